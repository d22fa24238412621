"""The static tracker website (``trialwatch site OUTDIR``; ``run`` with ``[site] out_dir``): an index of the
known trials and one page and one Atom feed per trial, plain HTML and CSS that any static server (or a
browser opening the folder from disk) can show.

gather.py reads what the pages show from the database; svg.py lays out the enrollment chart and bar;
render.py fills the templates (templates/); write.py swaps the finished folder in whole; build.py joins
them. paths.py names the files (and their public addresses), registries.py the registries' own pages.
"""
