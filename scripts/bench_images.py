#!/usr/bin/env python3
"""image-resizer's benchmark: `resize-file` against libvips (`vipsthumbnail`, one thread) and
Pillow (draft plus thumbnail with LANCZOS, the best a Python Lambda would do), all whole
processes on this machine in the same run, single-threaded.

Inputs (made here, deterministic): a 24 MP (6000x4000) and a 12 MP (4000x3000) JPEG at
quality 90, the 24 MP one again as a progressive JPEG, and a 12 MP RGBA PNG. Each is resized
to fit 1024x1024 at quality 85. Reported: median wall time and median peak RSS over the runs,
ratios against libvips and Pillow, output sizes, and PSNR against a reference (Pillow, full
decode, LANCZOS, no shrink-on-load).

Also measured:
- the decode floor: libjpeg-turbo's shrink-on-load decode alone (Pillow's draft + load, in
  one process, no start-up), which bounds how far below Pillow any single-threaded JPEG
  resizer can go;
- the Lambda itself: the release `image-resizer` binary run by cargo-lambda's local Runtime
  API against moto, one S3 event per input (two renditions, the defaults), each in a fresh
  function process; its peak RSS (VmHWM) against the 128 MB a Lambda is given.

Everything goes to bench/results/image-resizer.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import json

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench-images"
RESIZE_FILE = ROOT / "target" / "release" / "resize-file"
BOX = 1024
QUALITY = 85

PILLOW_SCRIPT = """
import sys
from PIL import Image
src, dst, box, q = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
im = Image.open(src)
im.draft("RGB", (box, box))  # JPEG DCT scaling, Pillow's shrink-on-load
im.thumbnail((box, box), Image.LANCZOS)
if dst.endswith(".jpg") and im.mode != "RGB":
    bg = Image.new("RGB", im.size, (255, 255, 255))
    bg.paste(im, mask=im.getchannel("A") if "A" in im.getbands() else None)
    im = bg
im.save(dst, quality=q) if dst.endswith(".jpg") else im.save(dst)
"""


def make_inputs() -> list[tuple[str, Path]]:
    """Photo-like content: smooth gradients, shapes and fine noise (JPEG-hard, like a photo)."""
    from PIL import Image, ImageChops, ImageDraw, ImageFilter
    WORK.mkdir(parents=True, exist_ok=True)
    out = []
    for name, (w, h), fmt in [("24mp.jpg", (6000, 4000), "JPEG"), ("24mp-progressive.jpg", (6000, 4000), "JPEG"),
                              ("12mp.jpg", (4000, 3000), "JPEG"), ("12mp-rgba.png", (4000, 3000), "PNG"),
                              ("40mp-progressive.jpg", (7752, 5168), "JPEG")]:
        path = WORK / name
        if not path.exists():
            base = Image.linear_gradient("L").resize((w, h))
            rgb = Image.merge("RGB", (base, base.rotate(90).resize((w, h)), base.transpose(Image.FLIP_LEFT_RIGHT)))
            draw = ImageDraw.Draw(rgb)
            for i in range(60):
                x, y = (i * 7919) % w, (i * 104729) % h
                r = 50 + (i * 37) % 400
                draw.ellipse((x - r, y - r, x + r, y + r), fill=((i * 53) % 256, (i * 91) % 256, (i * 29) % 256))
            noise = Image.effect_noise((w, h), 24).convert("RGB")
            rgb = ImageChops.add(rgb.filter(ImageFilter.GaussianBlur(2)), noise, scale=1.0, offset=-64)
            if fmt == "PNG":
                alpha = Image.linear_gradient("L").resize((w, h))
                rgb.putalpha(alpha)
                rgb.save(path, "PNG", compress_level=1)
            else:
                rgb.save(path, "JPEG", quality=90, progressive="progressive" in name)
        out.append((name, path))
    return out


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one whole process. Linux hands a child the peak RSS
    of the process that started it, so the command is started from a fresh, small Python
    (about 10 MiB, the floor of these figures), never from this one, which holds big images."""
    helper = subprocess.run([sys.executable, __file__, "--measure", json.dumps(cmd)], env=env,
                            capture_output=True, text=True)
    if helper.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed: {helper.stderr}")
    wall, rss = json.loads(helper.stdout)
    return wall, rss


def measure_here(cmd: list[str]) -> None:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
        sys.exit(1)
    print(json.dumps([wall, usage.ru_maxrss]))


def psnr(a: Path, b: Path) -> float:
    from PIL import Image, ImageChops, ImageStat
    x, y = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    if x.size != y.size:
        y = y.resize(x.size, Image.LANCZOS)
    rms = ImageStat.Stat(ImageChops.difference(x, y)).rms
    mse = sum(r * r for r in rms) / len(rms)
    return float("inf") if mse == 0 else 10 * math.log10(255 * 255 / mse)


def decode_floor(src: Path, runs: int) -> float:
    """Median seconds of libjpeg-turbo's shrink-on-load decode alone, in this process."""
    from PIL import Image
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        im = Image.open(src)
        im.draft("RGB", (BOX, BOX))
        im.load()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


LAMBDA_BIN = ROOT / "target" / "release" / "image-resizer"


def function_pids() -> list[int]:
    """The running image-resizer function processes (cargo-lambda starts them)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "exe")) == LAMBDA_BIN:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def vm_hwm_kib(pid: int) -> int:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit(f"bench: no VmHWM for {pid}")


def lambda_memory(inputs: list[tuple[str, Path]]) -> list[str]:
    """Peak RSS of the image-resizer Lambda (release build) for one S3 event per input. The
    40 MP progressive JPEG would not fit: the function must refuse it from its header."""
    sys.path.insert(0, str(ROOT / "local"))
    import boto3
    import demo
    if not LAMBDA_BIN.exists():
        raise SystemExit("bench: build the function first: cargo build --release -p image-resizer --bin image-resizer")
    work = ROOT / "target" / "bench-lambda"
    work.mkdir(parents=True, exist_ok=True)
    template = json.loads((ROOT / "events" / "image-resizer" / "upload.json").read_text())["Records"][0]
    moto, endpoint = demo.start_moto(work, "moto.log")
    watcher = None
    rows = []
    try:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench-images")
        env = {**demo.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
               "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED", "AWS_LAMBDA_LOG_LEVEL": "WARN",
               # What the function plans its decode memory on, as a 128 MB Lambda would tell it.
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}
        for name, src in inputs:
            key = f"uploads/{name}"
            s3.put_object(Bucket="bench-images", Key=key, Body=src.read_bytes())
            record = json.loads(json.dumps(template))
            record["s3"]["bucket"] = {"name": "bench-images", "arn": "arn:aws:s3:::bench-images"}
            record["s3"]["object"].update(key=key, size=src.stat().st_size)
            event = work / f"{name}.json"
            event.write_text(json.dumps({"Records": [record]}))
            # A fresh runtime (and function process) per input, as after a cold start.
            watcher, port = demo.start_watch(work, env, "watch",
                                             ("--release", "-p", "image-resizer", "--bin", "image-resizer"))
            ok, out = demo.invoke(port, "image-resizer", event)
            report = out if ok and isinstance(out, dict) else {}
            written = report.get("done", [])
            refused = [s["reason"] for s in report.get("skipped", []) if "more memory" in s["reason"]]
            if name.startswith("40mp") and not (refused and not written):
                raise SystemExit(f"bench: the Lambda should have refused {name} for memory: {out}")
            if not name.startswith("40mp") and len(written) != 2:
                raise SystemExit(f"bench: the Lambda did not write both renditions of {name}: {out}")
            pids = function_pids()
            if len(pids) != 1:
                raise SystemExit(f"bench: expected one function process, found {pids}")
            peak = vm_hwm_kib(pids[0])
            watcher.stop()
            watcher = None
            sizes = ", ".join(f"{w['rendition']} {w['width']}x{w['height']}" for w in written) or \
                f"refused: {refused[0].split(';')[0]}"
            rows.append(f"| {name} | {src.stat().st_size / 1e6:.1f} MB | {sizes} | {peak / 1024:.1f} MiB | "
                        f"{peak / 1024 / 128 * 100:.0f}% of 128 MB |")
    finally:
        if watcher:
            watcher.stop()
        moto.stop()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--lambda-only", action="store_true", help="only the Lambda memory check (printed, not written)")
    args = ap.parse_args()
    if args.measure:
        measure_here(json.loads(args.measure))
        return 0
    from PIL import Image
    vips = shutil.which("vipsthumbnail")
    if not vips:
        raise SystemExit("bench: vipsthumbnail missing (Debian package libvips-tools; `make bench` installs it)")
    if not RESIZE_FILE.exists():
        raise SystemExit("bench: build resize-file first: cargo build --release -p fleetkeeper-imaging --bin resize-file")
    one_thread = {**os.environ, "VIPS_CONCURRENCY": "1", "OMP_NUM_THREADS": "1"}
    rows = []
    floors = []
    inputs = make_inputs()
    if args.lambda_only:
        print("\n".join(lambda_memory(inputs)))
        return 0
    for name, src in inputs:
        if name.startswith("40mp"):
            continue  # the Lambda's memory check only
        ext = ".jpg" if name.endswith(".jpg") else ".png"
        # The reference: full decode, LANCZOS, stored losslessly.
        ref = WORK / f"ref-{name}.png"
        if not ref.exists():
            im = Image.open(src)
            im.load()
            im.thumbnail((BOX, BOX), Image.LANCZOS, reducing_gap=None)
            im.save(ref)
        tools = {
            "fleetkeeper resize-file": lambda out: [str(RESIZE_FILE), str(src), str(out), "--rendition",
                                                    f"m={BOX}x{BOX}:inside", "--quality", str(QUALITY)],
            "libvips (vipsthumbnail)": lambda out: [vips, str(src), "--size", f"{BOX}x{BOX}", "-o",
                                                    f"{out}[Q={QUALITY},strip]" if ext == ".jpg" else f"{out}[strip]"],
            "Pillow (draft + LANCZOS)": lambda out: [sys.executable, "-c", PILLOW_SCRIPT, str(src), str(out), str(BOX), str(QUALITY)],
        }
        results = {}
        outs = {tool: WORK / f"out-{tool.split()[0].lower()}-{name}{ext}" for tool in tools}
        walls: dict[str, list[float]] = {tool: [] for tool in tools}
        rss: dict[str, list[int]] = {tool: [] for tool in tools}
        # Round-robin, so a slow spell of the machine hits every tool alike.
        for _ in range(args.runs):
            for tool, cmd in tools.items():
                w, r = measure(cmd(outs[tool]), env=one_thread)
                walls[tool].append(w)
                rss[tool].append(r)
        for tool, out in outs.items():
            results[tool] = (statistics.median(walls[tool]), statistics.median(rss[tool]), out.stat().st_size,
                             psnr(ref, out), Image.open(out).size)
        base_wall, base_rss = results["libvips (vipsthumbnail)"][:2]
        pillow_wall = results["Pillow (draft + LANCZOS)"][0]
        for tool, (wall, rss, size, q, dims) in results.items():
            rows.append(f"| {name} | {tool} | {wall * 1000:.0f} ms | {wall / base_wall:.2f}x | "
                        f"{pillow_wall / wall:.2f}x | {rss / 1024:.1f} MiB | "
                        f"{rss / base_rss:.2f}x | {dims[0]}x{dims[1]} | {size / 1024:.0f} KiB | {q:.1f} dB |")
        if ext == ".jpg":
            floor = decode_floor(src, args.runs)
            ours = results["fleetkeeper resize-file"][0]
            floors.append(f"| {name} | {floor * 1000:.0f} ms | {pillow_wall * 1000:.0f} ms | "
                          f"{pillow_wall / 3 * 1000:.0f} ms | {ours * 1000:.0f} ms |")
    head = ("| input | tool | wall (median) | vs libvips | Pillow's time / this | peak RSS (median) | vs libvips | output | size | PSNR vs reference |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    table = head + "\n" + "\n".join(rows)
    floor_table = ("| input | libjpeg-turbo decode alone | Pillow, whole process | a third of Pillow | resize-file, whole process |\n"
                   "|---|---|---|---|---|\n" + "\n".join(floors))
    lambda_table = ("| input | size | renditions | function peak RSS | of a 128 MB Lambda |\n|---|---|---|---|---|\n"
                    + "\n".join(lambda_memory(inputs)))
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "image-resizer.md").write_text(
        f"# image-resizer benchmark\n\n`make bench` ({args.runs} runs each, taken in turn, single-threaded, whole processes, "
        f"fit {BOX}x{BOX}, quality {QUALITY}).\n\n{table}\n\n"
        "## The decode floor\n\nJPEG entropy decoding cannot be skipped by shrink-on-load; libjpeg-turbo's "
        "decode alone (timed inside one Python process, so without start-up) is what every single-threaded "
        f"resizer pays, whatever it does after.\n\n{floor_table}\n\n"
        "## In the Lambda\n\nThe release `image-resizer` binary under cargo-lambda's local Runtime API, "
        "S3 on moto, the default renditions (thumb 300x200 cover, medium 1024x1024 inside), one event per "
        f"input, each in a fresh function process.\n\n{lambda_table}\n")
    print(table)
    print()
    print(floor_table)
    print()
    print(lambda_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
