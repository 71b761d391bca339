"""The care record's commands, one module per area; ``carerecord.application`` joins them.

- ``base``: the application's wiring (configuration, transcoder), the load -> decide ->
  save loop every client command goes through (``_change``), the one save every command
  makes (``_commit``), ``CommandResult``, and ``command``, the wrapper every public
  command carries (idempotency keys, see ``carerecord.idempotency``);
- ``directory``: agencies, practitioners and the sharing protocol, and resolving a caller
  against the directory (every other area builds on it);
- ``clients``: registering clients, identifiers and exact lookup, demographics;
- ``contributions``: entries and alerts (labelled by the protocol at write time);
- ``consent``: consent decisions and restrictions;
- ``relationships``: care relationships and break-glass (a practitioner's standing);
- ``referrals``: referrals between agencies.
"""
