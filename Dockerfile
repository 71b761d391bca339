# The care record service image: API server, projection worker and CLI share it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY carerecord ./carerecord
COPY projections ./projections
COPY api ./api
COPY entrypoint ./entrypoint
COPY migrations ./migrations
RUN pip install . && useradd --uid 10001 --create-home carerecord \
    && install -d -o carerecord -g carerecord /home/carerecord/data

USER carerecord
ENV CARERECORD_DATA_DIR=/home/carerecord/data
EXPOSE 8000
CMD ["carerecord", "--help"]
