"""The chunked training loop every stage shares: a run broken into chunks equals an unbroken one."""

import json

import torch

from training.common import ChunkedTraining, setup


def _train(run_dir, total_steps, max_minutes=None):
    """A tiny stage: fresh objects each call, as a new invocation of the CLI would make them."""
    setup(5)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loop = ChunkedTraining(run_dir, "tiny", run_dir / "tiny" / "state.pt", opt, {"model": model}, max_minutes=max_minutes, total_steps=total_steps)
    seen = []
    for step in loop:
        seen.append(step)
        x = torch.randn(8, 4)  # draws from the RNG, so the RNG must be resumed too
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loop.record(float(loss.detach()))
    return model, seen


def test_two_chunks_equal_one_unbroken_run(tmp_path):
    whole, seen = _train(tmp_path / "a", 4)
    assert seen == [0, 1, 2, 3]
    _, first = _train(tmp_path / "b", 2)
    resumed, second = _train(tmp_path / "b", 4)
    assert (first, second) == ([0, 1], [2, 3])
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    state = torch.load(tmp_path / "b" / "tiny" / "state.pt", weights_only=False)
    assert state["step"] == 4 and set(state) == {"model", "opt", "rng", "step", "seconds"}
    logged = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in logged] == [("tiny", 2), ("tiny", 4)]
    assert all(r["loss"] > 0 for r in logged)


def test_a_spent_deadline_runs_no_step_but_still_checkpoints(tmp_path):
    _, seen = _train(tmp_path, 10, max_minutes=0)
    assert seen == []
    assert torch.load(tmp_path / "tiny" / "state.pt", weights_only=False)["step"] == 0
    _, seen = _train(tmp_path, 1)  # and a later chunk starts from there
    assert seen == [0]
