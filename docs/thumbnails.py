"""Copy results/figures/*.jpg into docs/ as small images for the README."""

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

for src in sorted((ROOT / "results" / "figures").glob("*.jpg")):
    with Image.open(src) as image:
        image.thumbnail((1400, 500))
        image.save(ROOT / "docs" / src.name, quality=85, optimize=True)
        print(f"docs/{src.name}: {image.size[0]}x{image.size[1]}")
