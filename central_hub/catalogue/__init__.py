"""The service-item catalogue: drafts, the review stages and publication (``service``),
form parsing (``forms``), JSON/XLSX import and export (``io``), the screens (``views``)."""
