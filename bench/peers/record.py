#!/usr/bin/python3
"""
Records the peers' own outputs as test references (test/fixtures/peer/NAME.json), from their checkouts:

    /usr/bin/python3 bench/peers/record.py [NAME ...]      # all references, or the named ones
    /usr/bin/python3 bench/peers/record.py --list

Each module of AREAS (bench/peers/AREA.py) lists REFERENCES: dicts with
  name   the reference's file name;
  peer   the checkout it runs ('pytorch-grad-cam', 'captum');
  ours   what CNN Lens runs for the same map: technique, class, layer (optional), parameters (optional);
  run    a function returning (map224, call, extra): the peer's [224, 224] map (numpy), the call that made it
         (a string for the record) and a dict of anything else worth keeping (or None).
The same `run` is what bench/peers/time.py times against CNN Lens (npm run bench:peers).
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402

AREAS = ['cams', 'perturbation', 'dff', 'metrics']


def references():
    found = []
    for area in AREAS:
        if os.path.exists(os.path.join(os.path.dirname(__file__), f'{area}.py')):
            found.extend(importlib.import_module(area).REFERENCES)
    return found


def find(name):
    for reference in references():
        if reference['name'] == name:
            return reference
    sys.exit(f'no reference named {name}; --list shows them')


if __name__ == '__main__':
    args = sys.argv[1:]
    if args == ['--list']:
        for reference in references():
            print(reference['name'])
        sys.exit(0)
    for reference in references():
        if args and reference['name'] not in args:
            continue
        map224, call, extra = reference['run']()
        common.write_reference(reference['name'], map224, reference['ours'], common.peer_version(reference['peer']), call, extra)
