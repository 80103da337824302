"""The compiler's static schedule of a kernel's straight-line blocks, from its SASS (``cuobjdump -sass``):
for the largest blocks holding a spike test (FSETP), the instructions and the sum of the stall counts ptxas
encodes in each instruction's control bits (bits 41-44 of its second word: the cycles before the warp may
issue its next instruction), a step (``steps`` a block: the forward's unrolled tile). A lower bound of a
step's cycles on one warp, before any wait on memory or instruction fetch.
``python3 sass_stall_counts.py KERNEL.sass [STEPS] [BLOCKS]``"""

import re
import sys

INSTRUCTION = re.compile(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?);\s*/\* 0x[0-9a-f]{16} \*/")
CONTROL = re.compile(r"/\* 0x([0-9a-f]{16}) \*/")


def instructions(lines: list[str]) -> list[tuple[int, str, int]]:
    """(address, text, stall count) of each instruction."""
    found = []
    for k, line in enumerate(lines):
        match = INSTRUCTION.match(line)
        if match:
            control = int(CONTROL.search(lines[k + 1]).group(1), 16)
            found.append((int(match.group(1), 16), match.group(2).strip(), (control >> 41) & 0xF))
    return found


def blocks(code: list[tuple[int, str, int]]) -> list[list[tuple[int, str, int]]]:
    """Straight-line blocks: split at branch targets and after branches."""
    targets = {int(m.group(1), 16) for _, text, _ in code if (m := re.search(r"BRA.*?0x([0-9a-f]+)", text))}
    split, current = [], []
    for entry in code:
        if entry[0] in targets and current:
            split.append(current)
            current = []
        current.append(entry)
        if "BRA" in entry[1] or "EXIT" in entry[1]:
            split.append(current)
            current = []
    return [*split, current]


def main() -> None:
    path, rest = sys.argv[1], [int(a) for a in sys.argv[2:]]
    steps, shown = (rest + [32, 4][len(rest) :])[:2]
    with open(path) as sass:
        code = instructions(sass.read().splitlines())
    tests = [block for block in blocks(code) if any("FSETP" in text for _, text, _ in block)]
    for block in sorted(tests, key=len, reverse=True)[:shown]:
        stalls = sum(stall for *_, stall in block)
        per_step = f"{len(block) / steps:.2f} instructions, {stalls / steps:.2f} stall cycles a step"
        print(f"block {block[0][0]:#x}: {per_step}")


if __name__ == "__main__":
    main()
