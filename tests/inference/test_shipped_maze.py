"""The maze model that ships inside the package: found without --model, documented, able
to solve held-out mazes on the CPU, and clear about the mazes it cannot take."""

import json
from pathlib import Path

from train_helpers import solve_jsonl

from hrm.inference import store
from hrm_cli.main import main

# 9x9 mazes from `hrm datasets generate maze --size 9 --seed 2` (the held-out seed; training
# used seed 1), one per line; shortest paths of 8-13 cells.
HELD_OUT = [
    "S   #   #  # ###  # #     #      ### # # G  #####    ## ####   #  ### #   #     #",
    "# #G## ## #  # # # ##      # ###   ##  #S##  # ##      # ###  #     ### #  #  ###",
    "  ##  #   #         # #     #    ## #G    ##    ## #  ##    #S #  # ### ###  #  #",
    " # ##  ### #  # ###  G  ##    #  #  # ## ##  #  ###    #  #S# # #  # #  ##     ##",
    "##     #   ##  # ####S###  ##   #       ##      ### G ##       ##    ###   #   # ",
]
# Held-out mazes (seed 2, paths of 21, 13 and 12 cells): the default solves the first at
# once and gets the other two wrong in one rollout, then right on the first rotated copy.
RETRIED = [
    "#  #    #      #  #   ##   # # #  # # #  ##   G   ##   # # ## # ## ##   # ####S  ",
    " ##   # S    ###   ## # #  ##   #   ## ##  # ##  #  # ##    ### #    #    G# #  #",
    " ###  #   #     ## #   G##            #   ## #### #   # ###  ## ## ##  ## ##S    ",
]


def write_lines(path, lines):
    # One maze per line: the trailing spaces are open cells, so no stripping.
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_the_default_is_found_and_says_how_it_was_made():
    entry = store.find_model("default:maze")
    assert entry.kind == "shipped" and entry.task == "maze"
    assert store.resolve(None, "maze").path == entry.path
    assert sum(f.stat().st_size for f in entry.path.iterdir()) < 30 * 2**20
    config = json.loads((entry.path / "config.json").read_text())
    assert config["task"]["seq_len"] == 100 and config["task"]["attempts"] == 8
    provenance = config["provenance"]
    assert provenance["source"] == "hrm train" and provenance["steps"] == 20000
    assert provenance["wall_time_s"] > 0 and provenance["recipe"]["global_batch_size"] == 64
    data = provenance["training_data"]
    assert data["train"]["mazes"] == 200000 and data["train"]["seed"] == 1
    assert "EPYC" in data["training"]["device"]
    held_out = config["metrics"]["held_out"]["test-9x9-seed2"]
    assert held_out["examples"] == 2000 and held_out["exact_accuracy"] >= 0.95
    buckets = config["metrics"]["held_out_solve"]["buckets"]
    assert sum(b["count"] for b in buckets.values()) == 2000
    assert all(b["solved_within_attempts"]["8"] / b["count"] >= 0.99 for b in buckets.values())


def test_solve_uses_it_without_model_option(tmp_path, capsys):
    path = write_lines(tmp_path / "held-out.txt", HELD_OUT)
    code, records = solve_jsonl(capsys, "maze", path)
    assert code == 0 and [r["index"] for r in records] == list(range(len(HELD_OUT)))
    for record, line in zip(records, HELD_OUT, strict=True):
        assert record["solved"] and record["input"] == line
        answer = record["answer"]
        # the walls, S and G are kept and the path only fills open cells
        assert all(q == a or (q == " " and a == "o") for q, a in zip(line, answer, strict=True))
        assert "o" in answer


def test_attempts_retry_wrong_paths_on_rotated_copies(tmp_path, capsys):
    path = write_lines(tmp_path / "retried.txt", RETRIED)
    runs = {}
    for attempts in (1, 2):
        code, runs[attempts] = solve_jsonl(capsys, "maze", path, "--attempts", str(attempts))
        assert code == (3 if attempts == 1 else 0)
    once, twice = runs[1], runs[2]
    assert [r["solved"] for r in once] == [True, False, False]
    assert [r["attempts"] for r in twice] == [1, 2, 2] and all(r["solved"] for r in twice)
    for retried, line in zip(twice[1:], RETRIED[1:], strict=True):
        # the answer is for the maze as given, not for its rotated copy
        assert all(q == a or (q == " " and a == "o") for q, a in zip(line, retried["answer"],
                                                                   strict=True))


def test_a_30x30_maze_points_at_the_30x30_model(capsys):
    example = Path(__file__).resolve().parents[2] / "examples" / "maze.txt"
    code = main(["solve", "maze", str(example), "-q", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert "a 30x30 maze does not fit this model's 10x10 canvas" in err
    assert "hrm models pull hrm-maze-30x30-hard" in err and "Traceback" not in err
