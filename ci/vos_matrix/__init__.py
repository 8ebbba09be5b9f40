"""The evaluation matrix of vos-suite (``python ci/matrix.py``): cells, runners, scoring, report."""
