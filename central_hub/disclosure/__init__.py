"""Information disclosure at the county hub (政府信息公开平台).

| module | concern |
|---|---|
| ``projection`` | the ``disclosure`` projector: documents folded from synced ``disclosure.*`` events, search rows, D-01/D-06 alerts |
| ``attachments`` | content-addressed attachment files; what has not arrived shows "附件待传输" |
| ``requests`` | requests for disclosure (依申请公开): portal and window intake, actions, D-02..D-07 alerts |
| ``supervision`` | findings of :mod:`protocol.supervision.disclosure_rules` stored as alerts |
| ``report`` | statistics and the annual report (page, printable page, XLSX, JSON) |
| ``views`` | ``routes()``: public pages under ``/gk``, staff pages under ``/disclosure`` |

The ``central-hub disclosure-report`` command is in :mod:`central_hub.cli.disclosure`.
All SQL is in :mod:`central_hub.store.disclosure`; the rules are in :mod:`protocol.disclosure`.
"""
