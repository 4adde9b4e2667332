"""Onboarding: ``keeper init`` (RPC, Safe, the keeper's key, a validated config) and ``keeper propose``
(owner actions as unsigned Safe Transaction Builder batches; the keeper never takes an owner key).

- :mod:`.txbuilder`: the batch JSON (format, checksum, import rule, MultiSendCallOnly encoding);
- :mod:`.intent`: the HedgeModule parameters the config asks for, and what ``params()`` must return;
- :mod:`.propose`: enable-module, set-params, approvals, disable-module as :class:`~.propose.Proposal`;
- :mod:`.init`: ``keeper init``; :mod:`.devnet`: execute a batch file with owner keys, deploy a Safe/module;
- :mod:`.cli`: ``add_parsers(subparsers)`` registers ``init`` and ``propose``.
"""

from __future__ import annotations

__all__: list[str] = []
