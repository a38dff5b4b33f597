#!/usr/bin/env python3
"""Which CUDA kernels a change leaves untouched, without a GPU.

Compiles the given .cu files to PTX twice, from git revision REV and from the
working tree, and compares every kernel (.entry) body after normalizing what
does not change the code: the kernel's own (mangled) name in its parameter
names, the hash of an anonymous namespace, and branch labels. A kernel whose
name changed (a template parameter added) is matched by its body. Use it to
show that a verified default path still compiles to the same code after a
refactor or after a new opt-in variant was templated beside it.

  python3 scripts/ptx_same.py HEAD cuda/kernels/gemm_sm90.cu [more.cu ...]
      [--arch sm_90a] [--nvcc /usr/local/cuda/bin/nvcc]

Prints, per file: kernels identical (same name or same body under a new
name), changed, only in REV, only in the tree. Exit status 1 when a kernel of
REV is changed or gone, else 0.
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile


def entries(ptx):
    """{kernel name: body} of every .entry in a PTX text. The body runs to the brace that closes the
    entry's: inline asm blocks ({ .reg .pred p; ... }, wgmma's) close their own braces on lines of their
    own, so the first "\n}\n" would end the body early and hide every change after the first such
    block."""
    out = {}
    for m in re.finditer(r"\.entry (\S+)\(", ptx):
        start = m.start()
        i = ptx.index("{", ptx.index(")", start))  # after the parameter list
        depth = 0
        while True:
            c = ptx[i]
            depth += c == "{"
            depth -= c == "}"
            i += 1
            if depth == 0:
                break
        out[m.group(1)] = ptx[start:i]
    return out


def normalized(name, body):
    body = body.replace(name[2:], "KERNEL")  # also in its static shared arrays' names (_ZZ<name>E2As)
    body = re.sub(r"_GLOBAL__N__[0-9a-f]+_", "_GLOBAL__N__X_", body)  # the hash depends on the source path
    # Function-local statics of an anonymous namespace (a block reduction's shared array) are named
    # _INTERNAL_<hash>_...: the hash changes with the file's contents, comments included.
    body = re.sub(r"_INTERNAL_[0-9a-f]+_", "_INTERNAL_X_", body)
    body = re.sub(r"_Z\S*?(_param_\d+)", r"KERNEL\1", body)
    body = re.sub(r"\.entry \S+\(", ".entry KERNEL(", body)
    body = re.sub(r"\$L__\w+", "LBL", body)
    return body


def short(name):
    """A readable key: the anonymous-namespace hash dropped."""
    return re.sub(r"\d+_GLOBAL__N__[0-9a-f]+_\d+_\w+?_cu_[0-9a-f]+", "(anon)", name)


def compile_cu(nvcc, root, cu, arch, kind, out, tool="ptx_same"):
    """nvcc -<kind> (ptx or cubin) of root/cu into out, with the library's defines and flags; exits with
    nvcc's message on failure. Shared with scripts/sass_blocks.py."""
    cmd = [nvcc, "-DWICK_WITH_CUDA=1", "-DWICK_WITH_CUDNN=1", "-I" + root, "-O3", "-DNDEBUG", "-arch=" + arch,
           "--expt-relaxed-constexpr", "-std=c++20", "-" + kind, os.path.join(root, cu), "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{tool}: nvcc failed on {cu} in {root}:\n{r.stderr[-2000:]}")


def repo_root():
    return subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=True).stdout.strip()


def extract_rev(root, rev, into):
    """The tree of git revision rev, written into the folder into."""
    archive = subprocess.run(["git", "-C", root, "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)


def compile_ptx(nvcc, root, cu, arch):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "k.ptx")
        compile_cu(nvcc, root, cu, arch, "ptx", out)
        with open(out) as f:
            return entries(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev", help="the git revision to compare against (e.g. HEAD, a commit)")
    ap.add_argument("files", nargs="+", help=".cu files, relative to the repository root")
    ap.add_argument("--arch", default="sm_90a")
    ap.add_argument("--nvcc", default="/usr/local/cuda/bin/nvcc")
    a = ap.parse_args()
    root = repo_root()
    status = 0
    with tempfile.TemporaryDirectory() as old_root:
        extract_rev(root, a.rev, old_root)
        for cu in a.files:
            old = {short(k): normalized(k, v) for k, v in compile_ptx(a.nvcc, old_root, cu, a.arch).items()}
            new = {short(k): normalized(k, v) for k, v in compile_ptx(a.nvcc, root, cu, a.arch).items()}
            digest = lambda body: hashlib.sha1(body.encode()).hexdigest()
            new_by_body = {}
            for k, v in new.items():
                new_by_body.setdefault(digest(v), []).append(k)
            same, renamed, changed, gone = [], [], [], []
            for k, v in old.items():
                if k in new:
                    (same if new[k] == v else changed).append(k)
                elif digest(v) in new_by_body:
                    renamed.append((k, new_by_body[digest(v)][0]))
                else:
                    gone.append(k)
            matched = set(same) | set(changed) | {n for _, n in renamed}
            added = [k for k in new if k not in matched]
            print(f"{cu}: {len(old)} kernels in {a.rev}, {len(new)} in the tree: {len(same)} identical, "
                  f"{len(renamed)} identical under a new name, {len(changed)} changed, {len(gone)} only in "
                  f"{a.rev}, {len(added)} only in the tree")
            for k in changed:
                print(f"  changed: {k}")
            for k in gone:
                print(f"  only in {a.rev}: {k}")
            for k in added:
                print(f"  only in the tree: {k}")
            if changed or gone:
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
