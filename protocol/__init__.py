"""The protocol shared by edge nodes and the county hub (pure: stdlib and cryptography).

Wire layer: :mod:`.canonical`, :mod:`.keys`, :mod:`.envelope`, :mod:`.chain`,
:mod:`.batch`, :mod:`.document`, :mod:`.ack`, :mod:`.version`, :mod:`.limits`,
:mod:`.errors`. Shared semantics: :mod:`.calendar`, :mod:`.catalogue` and the modules that
later issues add (event types, case lifecycle, supervision rules). See SPEC.md.
"""
