#!/usr/bin/python3
"""
Times one peer reference's run (bench/peers/record.py), for bench/peers.ts:

    /usr/bin/python3 bench/peers/time.py NAME REPEATS [WARMUP]

One untimed warm-up (none with WARMUP 0), then REPEATS timed runs of the peer's call on the same model and input (torch on this
machine's CPU threads): the reference's `bench.time` where it has one (the peer as a user calls it, with its
own random draws, where the reference replays CNN Lens's), else its `run`. Prints {"name", "seconds": [...],
"ours": parameters CNN Lens should time with instead of the reference's, or null} as JSON.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import record  # noqa: E402

if __name__ == '__main__':
    name, repeats = sys.argv[1], int(sys.argv[2])
    warmup = len(sys.argv) < 4 or sys.argv[3] != '0'
    reference = record.find(name)
    bench = reference.get('bench', {})
    run = bench.get('time', reference['run'])
    if warmup:
        run()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({'name': name, 'seconds': seconds, 'ours': bench.get('ours')}))
