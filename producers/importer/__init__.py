"""``govpulse import``: one-stop exports (the dossier tracking book and vendors' variants, as XLSX,
XLS or CSV) turned into dossier events, through a YAML mapping (``mappings/``)."""
