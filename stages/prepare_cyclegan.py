"""DVC stage `prepare_cyclegan`: cyclegan.domain_a and domain_b -> data/cyclegan/{a,b}/{train,test}/
(unlabelled prepared splits at cyclegan.resolution, with pairing keys where the domains have
them) and the list of files skipped under data.on_bad=skip."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.data.domains import prepare_domains


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    outs = {"a": (args.a_train, args.a_test), "b": (args.b_train, args.b_test)}
    counts = prepare_domains(params.cyclegan, params.data, outs=outs, bad_out=args.bad_files)
    cfg = params.cyclegan
    print(f"prepared at {cfg.resolution}×{cfg.resolution}:")
    for domain, spec in (("a", cfg.domain_a), ("b", cfg.domain_b)):
        print(f"  {domain.upper()} {spec:<28} {counts[f'{domain}/train']:>7} train {counts[f'{domain}/test']:>7} test")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for domain in ("a", "b"):
        parser.add_argument(f"--{domain}-train", required=True)
        parser.add_argument(f"--{domain}-test", required=True)
    parser.add_argument("--bad-files", required=True)
    run_stage(main, parser)
