"""The care record's commands, one module per area; ``carerecord.application`` joins them.

- ``base``: the application's wiring (configuration, transcoder) and the load -> decide ->
  save loop every client command goes through (``_change``), with ``CommandResult``;
- ``directory``: agencies, practitioners and the sharing protocol, and resolving a caller
  against the directory (every other area builds on it);
- ``clients``: registering clients, identifiers and exact lookup, demographics;
- ``contributions``: entries and alerts (labelled by the protocol at write time);
- ``consent``: consent decisions and restrictions;
- ``relationships``: care relationships and break-glass (a practitioner's standing);
- ``referrals``: referrals between agencies.
"""
