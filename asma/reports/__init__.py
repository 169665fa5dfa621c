"""Ablation reports: result rows (results.py), seeds and paired tests (stats.py), tables (tables.py) as Markdown/LaTeX (render.py), plots, and the report files (report.py)."""
