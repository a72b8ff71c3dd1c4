# The pipeline's CycleGAN stage scripts on a study's runs, sourced by cyclegan.sh and
# cyclegan_reference.sh after they set: part (prepare|train|reference|fid|report|render), out (the
# runs' folder), runs (their names) and first (the run whose params prepare and reference read).
data=$out/data
if [ "$part" = prepare ]; then
  python stages/prepare_cyclegan.py --params $out/$first.yaml --a-train $data/a/train --a-test $data/a/test \
    --b-train $data/b/train --b-test $data/b/test --bad-files $data/bad_files.txt
fi
if [ "$part" = train ]; then
  for run in $runs; do
    OMP_NUM_THREADS=1 python stages/train.py --params $out/$run.yaml --model cyclegan \
      --data $data/a/train --data $data/b/train --out $out/$run --live $out/$run/live >> $out/$run.log 2>&1 &
  done
  wait
fi
fid=$data/fid
tests="--a-test $data/a/test --b-test $data/b/test"
refs="--a-reference $fid/a.npz --b-reference $fid/b.npz"
if [ "$part" = reference ]; then
  python stages/reference_cyclegan.py --params $out/$first.yaml --a-train $data/a/train --b-train $data/b/train \
    $tests --a-out $fid/a.npz --b-out $fid/b.npz
fi
for run in $runs; do
  r=$out/$run
  if [ "$part" = fid ]; then
    python stages/fid_cyclegan.py --params $r.yaml --checkpoints $r/checkpoints $tests $refs \
      --out $r/fid.csv --cache $r/fid_cache.json
  fi
  if [ "$part" = report ]; then
    python stages/select_cyclegan.py --params $r.yaml --fid $r/fid.csv --checkpoints $r/checkpoints $tests $refs \
      --out $r/best.json --best $r/best.pt
    python stages/report_cyclegan.py --params $r.yaml --best $r/best.pt --best-json $r/best.json \
      --a-train $data/a/train --b-train $data/b/train $tests $refs --out $r/report.json
  fi
  if [ "$part" = render ]; then
    python stages/render_cyclegan.py --params $r.yaml --best $r/best.pt --checkpoints $r/checkpoints \
      --fid $r/fid.csv --live $r/live --report $r/report.json $tests --a2b $r/plots/a2b.png \
      --b2a $r/plots/b2a.png --progress $r/plots/progress.png --curves $r/plots/curves.png --loss $r/plots/loss.png
  fi
done
