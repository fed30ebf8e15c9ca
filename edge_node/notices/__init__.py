"""Notices and internal messages from the county (通知公告 / 内部消息) and who has read
them (``board``). See docs/hub-face.md.
"""
