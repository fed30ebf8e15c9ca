"""Government information disclosure (政府信息公开) at the node: documents drafted,
reviewed and published (``documents``) and disclosure on application, 依申请公开, taken in
at the window (``applications``). See docs/disclosure.md.
"""
