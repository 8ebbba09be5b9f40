"""Console table layout (pandas' to_string), CSV edge cases, and the fast PNG decoder."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image
from vos_eval.pngread import decode_label_png
from vos_eval.report import csv_text, text_table

GLOBAL_HEADER = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]


def test_console_table_matches_pandas_layout():
    # Expected strings printed by pandas 3.1 DataFrame.to_string(index=False).
    values = [[0.8123456789], [0.79], [1.0], [-0.0123], [0.5], [math.nan], [0.25]]
    assert text_table(GLOBAL_HEADER, values) == (
        " J&F-Mean  J-Mean  J-Recall  J-Decay  F-Mean  F-Recall  F-Decay\n"
        " 0.812346    0.79       1.0  -0.0123     0.5       NaN     0.25"
    )
    rows = text_table(
        ["Sequence", "J-Mean", "F-Mean"],
        [["bike-packing_1", "a_2", "cat_10"], [0.5, 1.0, 0.123456789], [0.25, 0.0, math.nan]],
    )
    assert rows == (
        "      Sequence   J-Mean  F-Mean\n"
        "bike-packing_1 0.500000    0.25\n"
        "           a_2 1.000000    0.00\n"
        "        cat_10 0.123457     NaN"
    )
    tiny = text_table(
        ["Sequence", "J-Mean", "F-Mean"], [["x_1", "a_2"], [1e-7, 123.0], [0.25, -0.0]]
    )
    assert tiny == (
        "Sequence       J-Mean  F-Mean\n"
        "     x_1 1.000000e-07    0.25\n"
        "     a_2 1.230000e+02   -0.00"
    )


def test_csv_prints_three_decimals_and_nan_as_empty():
    text = csv_text(GLOBAL_HEADER, [[0.8123, 0.79, 1.0, -0.0123, 0.5, math.nan, 0.25]])
    assert text == (
        "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n"
        "0.812,0.790,1.000,-0.012,0.500,,0.250\n"
    )


def encode(array: np.ndarray, writer: str) -> bytes:
    buffer = io.BytesIO()
    if writer == "pil-P":
        image = Image.frombytes("P", array.shape[::-1], array.tobytes())
        image.putpalette(list(range(256)) * 3)
        image.save(buffer, "PNG")
    elif writer == "pil-L":
        Image.fromarray(array, "L").save(buffer, "PNG")
    else:
        return cv2.imencode(".png", array)[1].tobytes()
    return buffer.getvalue()


@pytest.mark.parametrize("writer", ["pil-P", "pil-L", "opencv"])
def test_fast_decoder_equals_pil_or_declines(writer):
    rng = np.random.default_rng(2)
    decoded = 0
    for _ in range(40):
        array = np.zeros((int(rng.integers(1, 50)), int(rng.integers(1, 50))), np.uint8)
        array[
            rng.integers(0, 10) : rng.integers(10, 50), rng.integers(0, 10) : rng.integers(10, 50)
        ] = rng.integers(1, 256)
        if rng.random() < 0.3:
            array = rng.integers(0, 256, array.shape).astype(np.uint8)
        data = encode(array, writer)
        fast = decode_label_png(data)
        if fast is not None:
            decoded += 1
            assert np.array_equal(fast, np.asarray(Image.open(io.BytesIO(data))))
    assert decoded > 0


def test_fast_decoder_declines_colour_and_16_bit():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(buffer, "PNG")
    assert decode_label_png(buffer.getvalue()) is None
    assert decode_label_png(cv2.imencode(".png", np.zeros((4, 5), np.uint16))[1].tobytes()) is None
    assert decode_label_png(b"not a png") is None


def test_fast_decoder_without_libdeflate_uses_zlib(monkeypatch):
    import vos_eval.pngread as pngread

    monkeypatch.setattr(pngread, "_libdeflate", None)
    monkeypatch.setattr(pngread, "_isal_zlib", None)
    array = np.zeros((20, 30), np.uint8)
    array[3:9, 4:20] = 7
    data = encode(array, "pil-P")
    assert np.array_equal(pngread.decode_label_png(data), array)
