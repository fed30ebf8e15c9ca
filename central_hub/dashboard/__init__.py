"""County and township dashboards (issue #8): figures from the ``face_daily`` aggregate
(maintained by :mod:`.facts` in the ``content`` projector's transaction), drill-down to the
cases behind each figure, streamed CSV and XLSX exports. See docs/hub-face.md."""
