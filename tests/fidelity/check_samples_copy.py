#!/usr/bin/python3
"""Checks tests/fidelity/samples/ (the copy the tests use) against the shared recordings.

Usage: check_samples_copy.py COPY_DIR SHARED_DIR

The recorded kube-apiserver exchanges live in the project's shared design folder, which a
user who clones the repository alone does not have; the tests read the copy. When the
shared folder is present (CI's layout), every file there must be in the copy, byte for
byte, so a new recording is noticed and copied in. Without it there is nothing to compare:
the check says so and passes (the copy is then all there is).
"""
import filecmp
import os
import sys


def main(argv):
    if len(argv) != 3:
        print("usage: check_samples_copy.py COPY_DIR SHARED_DIR", file=sys.stderr)
        return 2
    copy_dir, shared_dir = argv[1], argv[2]
    if not os.path.isdir(copy_dir):
        print(f"FAIL: {copy_dir} is missing")
        return 1
    if not os.path.isdir(shared_dir):
        print(f"no shared recordings at {shared_dir}: the copy ({len(os.listdir(copy_dir))} files) is used as is")
        return 0
    problems = []
    shared = sorted(os.listdir(shared_dir))
    for name in shared:
        mine = os.path.join(copy_dir, name)
        if not os.path.exists(mine):
            problems.append(f"{name}: new in {shared_dir}, not copied to {copy_dir}")
        elif not filecmp.cmp(os.path.join(shared_dir, name), mine, shallow=False):
            problems.append(f"{name}: differs from {shared_dir}/{name}")
    for name in sorted(set(os.listdir(copy_dir)) - set(shared)):
        problems.append(f"{name}: in {copy_dir} but no longer in {shared_dir}")
    for p in problems:
        print("FAIL:", p)
    if problems:
        print(f"copy with: cp {shared_dir}/* {copy_dir}/")
        return 1
    print(f"{len(shared)} recordings: the copy equals {shared_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
