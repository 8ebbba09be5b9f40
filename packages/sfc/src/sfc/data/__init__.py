"""SFC-specific data code: the test filelist, YouTube-VOS ``ytvos.csv``, FC pre-training pairs."""
