"""Stretch an EXL2 measurement of a shallow random model over a deep one of the same width.

ExLlamaV2's converter first *measures* every layer (the error of each candidate quantization),
then picks per-layer bit widths and quantizes. Measuring is the slow part: for the
Qwen2.5-14B shape it takes far longer than one benchmarking session can spend. In a model with
random weights all decoder layers are drawn from the same distribution, so a measurement of
a 2-layer model of the same width stands for every layer of the 48-layer one:

  convert_exl2 -i 14b-2layers -o work2 -om m2.json           # measure 2 layers
  python benchmarks/gpu/replicate_measurement.py m2.json --layers 48 -o m48.json
  convert_exl2 -i 14b -o work48 -m m48.json -cf 14b-exl2 -b 4.25   # quantize all 48

Layer i of the output takes the entries of layer i of the input while it has one, and of the
input's last layer after that. Entries that are not per-layer (embeddings, norm, head) are
copied. This is only sound for random weights; a real model must be measured in full.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

LAYER_KEY = re.compile(r"^(?P<prefix>.*?model\.layers\.)(?P<index>\d+)(?P<rest>\..+)$")


def layer_entries(measurement: dict) -> dict[int, dict[str, object]]:
    """{layer index: {key suffix (".self_attn.self_attn", ...): entry}}."""
    layers: dict[int, dict[str, object]] = {}
    for key, value in measurement.items():
        match = LAYER_KEY.match(key)
        if match:
            suffix = match.group("prefix") + "{}" + match.group("rest")
            layers.setdefault(int(match.group("index")), {})[suffix] = value
    return layers


def source_layer(index: int, count: int) -> int:
    return index if index < count else count - 1


def replicate(data: dict, layers: int) -> dict:
    """The measurement file `data` ({"measurement": ..., "last_module_idx": ...}) for `layers`."""
    measurement = data["measurement"]
    per_layer = layer_entries(measurement)
    if not per_layer:
        raise ValueError("no per-layer entries (model.layers.N.*) in this measurement")
    count = max(per_layer) + 1
    if sorted(per_layer) != list(range(count)):
        raise ValueError(f"layers missing from the measurement: have {sorted(per_layer)}")
    out = {k: v for k, v in measurement.items() if not LAYER_KEY.match(k)}
    for index in range(layers):
        for suffix, value in per_layer[source_layer(index, count)].items():
            out[suffix.format(index)] = value
    last = int(data.get("last_module_idx", 2 * count + 2)) + 2 * (layers - count)
    return {"measurement": out, "last_module_idx": last}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("measurement", help="measurement.json of the shallow model")
    parser.add_argument("--layers", type=int, required=True, help="layers of the deep model")
    parser.add_argument("-o", "--out", required=True, help="measurement.json to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = json.loads(Path(args.measurement).read_text(encoding="utf-8"))
    try:
        result = replicate(data, args.layers)
    except (KeyError, ValueError) as exc:
        print(f"cannot replicate {args.measurement}: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.out}: {len(result['measurement'])} entries for {args.layers} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
