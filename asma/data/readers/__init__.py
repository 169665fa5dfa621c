"""One reader per raw data set; each produces samples for `asma data prepare` (see base.py)."""
