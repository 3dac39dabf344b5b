"""The maze model that ships inside the package: found without --model, documented, able
to solve held-out mazes on the CPU, larger ones than it was trained on, and clear about the
mazes it cannot take."""

import json

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
# Held-out mazes (seed 2, paths of 3, 1 and 21 cells): with adaptive halting the default
# solves the first at once and gets the other two wrong in one rollout, then right on the
# first rotated copy.
RETRIED = [
    "   #     ## # #     ##  #      # ## #    ##   #    #### #   # #  #  #S#G## ###   ",
    "   # G#    ##S ##  #  # # # ## ##### ##  #    #     ## ###  # #  # #   ## # #   #",
    "##     G#S# # ## # # #       ###    #  #   #   #   #   #  #  #           ###     ",
]
# 30x30 mazes from scripts/maze_grid/make_data.py's held-out sets (seed 3; paths of 52 and
# 47 cells), past the 24x24 of training: random walls, then corridors carved by a
# depth-first search.
LARGER = [
    [
     "# #### #  ##     #   #  #    #", "### ##  ####   # #  # #    #  ",
     "   ##     ###    #  ## ##   # ", " #    #     #### #        ### ",
     "#   # #   ###    ####   #   ##", "  # ### #      #####  #   #   ",
     "# #        #  # #            #", "#  #   ## # # #  #   ###     #",
     "##      ##  #   #    #  #     ", "  #    #  #G  #   #    ### #  ",
     "#### #    #    # ####   # #  #", "    #       #   # #  # #     #",
     "#     # #   #  ## ##     # ###", "#  #     # ## # #    # ##     ",
     "#  #   # #   ##  #   # #   #  ", "#  # ## # # #        # # ##  #",
     " # ## #  # #    #      #   # #", "       # # ##      ## #    ## ",
     "#     # ##   # #     #  ###S #", "  #  ### #      #  #  # ## #  ",
     " # ### #     # #  ###  ####  #", "# # ##    #  ##     # #  # #  ",
     "      #  # #  ##   ######     ", "#    #  # #   # ##     #      ",
     "   ## # ## ##       ##   ###  ", " ##   ###  ## # #  #  #  # #  ",
     " #    #  ###  # ## # #   ##   ", "# #####  ##  #     ##   ##    ",
     " #  # ##### #   #           ##", "    #  ## # ###       # ##  # ",
    ],
    [
     "   #     #         #     #   #", " ### ### # # # ### ### # # # #",
     " #   # #   # #     #   #   # #", " # ### ##### ### ### #######  ",
     " # # #     #   # # #       # #", " # # # # ##### # # # ##### # #",
     " # #   #     #   #     #   #  ", " # # ####### ##########  ### #",
     "   # #     #   #       #     #", " ##### ###   # # ###   # #####",
     "   #       #   # # #   #     #", "## # ### ### #   # # ####### #",
     " #   #   #   # # # #         #", " # # #  #### # # # # # ##### #",
     "     #     # #   # # # # #   #", " ##### # # # ### # # # # # ###",
     "     #   #   #     #   # # # #", " ### ######### ### ####  # # #",
     "   #     #       #   # #   # #", "#### ### # ####  ### # #  ## #",
     "     #G    #   #   # # # #   #", " ##### ##### # ### # # # # # #",
     "   #     #   #   #     #   # #", "## # ##### ##### ##  # ##### #",
     "   # #     #  S# #   #     # #", " ##### ##### ### # # ###  ## #",
     "       #   # #   # #   # #   #", " ####### # # # ### ##  ### ## ",
     "         #   #       #       #", "##############################",
    ],
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
    assert config["architecture"]["name"] == "grid-hrm" and config["task"]["attempts"] == 8
    provenance = config["provenance"]
    assert provenance["source"] == "hrm train" and provenance["wall_time_s"] > 0
    assert provenance["recipe"]["global_batch_size"] == 64
    # stage 4 (longer paths) started from stage 3, the decay from stage 2's step 15,961
    assert provenance["init_from"]["source"]["steps"] == 2000
    assert provenance["init_from"]["source"]["init_from"]["source"]["steps"] == 15961
    data = provenance["training_data"]
    assert data["train"]["mazes"] == 60000 and data["train"]["seed"] == 1
    assert data["train"]["stage_4"]["mazes"] == 30000
    assert "EPYC" in data["training"]["device"] and len(data["training"]["commands"]) == 4
    held_out = config["metrics"]["held_out"]["test-9x9-seed2"]
    # no worse than the 10x10 attention model it replaced: 97.85% at 16 segments, 100%
    # within 8 attempts
    assert held_out["examples"] == 2000 and held_out["by_segments"]["16"]["exact_accuracy"] >= 0.98
    assert held_out["attempts"]["solved_within"]["8"] == 1.0
    buckets = config["metrics"]["held_out_solve"]["buckets"]
    assert sum(b["count"] for b in buckets.values()) == 2000
    assert all(b["solved_within_attempts"]["8"] == b["count"] for b in buckets.values())
    sizes = {(row["kind"], row["size"]) for row in config["metrics"]["held_out_sizes"]["rows"]}
    assert {("walls", 30), ("corridors", 60), ("walls", "30-any")} <= sizes


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
        # adaptive halting: these mazes were picked for the wrong paths it stops on
        code, runs[attempts] = solve_jsonl(capsys, "maze", path, "--attempts", str(attempts),
                                           "--halt", "adaptive")
        assert code == (3 if attempts == 1 else 0)
    once, twice = runs[1], runs[2]
    assert [r["solved"] for r in once] == [True, False, False]
    assert [r["attempts"] for r in twice] == [1, 2, 2] and all(r["solved"] for r in twice)
    for retried, line in zip(twice[1:], RETRIED[1:], strict=True):
        # the answer is for the maze as given, not for its rotated copy
        assert all(q == a or (q == " " and a == "o") for q, a in zip(line, retried["answer"],
                                                                   strict=True))


def test_it_solves_mazes_larger_than_its_training_sizes(tmp_path, capsys):
    path = tmp_path / "larger.txt"
    path.write_text("\n\n".join("\n".join(rows) for rows in LARGER) + "\n")
    code, records = solve_jsonl(capsys, "maze", path, "--attempts", "1")
    assert code == 0 and [r["solved"] for r in records] == [True, True]
    for record, rows in zip(records, LARGER, strict=True):
        assert record["answer"].splitlines() != rows and "o" in record["answer"]
    # the budget for a 30x30 maze is 20 segments, above the 16 of training, and halting
    # still stops these early
    assert all(1 <= r["segments"] < 10 for r in records)


def test_a_maze_over_64x64_is_refused_in_one_line(tmp_path, capsys):
    rows = ["S" + " " * 64] + [" " * 65] * 63 + [" " * 64 + "G"]
    path = tmp_path / "huge.txt"
    path.write_text("\n".join(rows) + "\n")
    code = main(["solve", "maze", str(path), "-q", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:1: maze is 65x65, larger than 64x64" in err and "Traceback" not in err


# A held-out 30x30 random-wall maze (seed 3, any path length; this one 67 cells): the Q
# head halts it after 2 segments on a broken path; halting "checked" runs it on to a right
# one.
HALTS_TOO_EARLY = [
    " ##  # #   #### ##   #  # #  #", "##  # ## ##   #  # ##  ##     ",
    "    ###     #         # #   ##", " # #  #   #   #      #    ##  ",
    " ## #  #  #       # ###  # #  ", "#   ####       #########      ",
    " ####  #    ### ####   ##     ", "##  # ##    ##     # #   #### ",
    " #    ####    #  ##      #### ", "#  ## #   #   ## ## ## # ## # ",
    "    #   ###  ## #   #   ##   #", "## ## # ##   ## ##   # # ## ##",
    " # ###   ##         #    # # #", "   #######  #  #  # # # # ####",
    " #       # # ##   #   # ##  # ", "# ##  # #  # #  #      ## #   ",
    "##   # #  # ## ##   #       # ", "  ###   #  # #  # #     #  ## ",
    "### ## ####   # ##  #  #   ## ", "  #   ## ##   # ##    #    #  ",
    "###  #   ## ##   ##   #     # ", " # # # #   # ##   # ##     #  ",
    "     # ###   ##    ### # ##  #", "   ##   #     # ##      ### # ",
    "### ## # # #         ## ##  # ", "#   ##    ####   # ##  #    ##",
    "  #  ###     S# #  ### #   #  ", "  # #  # ##  ## # # ##  #  #  ",
    "   ##   #  ## ##   # ###    # ", "#  # # ####     ##    ##    G#",
]


def test_default_checked_halting_runs_on_past_a_broken_path(tmp_path, capsys):
    path = tmp_path / "maze.txt"
    path.write_text("\n".join(HALTS_TOO_EARLY) + "\n")
    code, [adaptive] = solve_jsonl(capsys, "maze", path, "--attempts", "1", "--halt", "adaptive")
    assert code == 3 and not adaptive["solved"] and adaptive["segments"] == 2
    code, [checked] = solve_jsonl(capsys, "maze", path, "--attempts", "1")  # the default
    assert code == 0 and checked["solved"]
    # it stopped once the path held, well before the 20 segments of its budget
    assert 2 < checked["segments"] < 20


def test_watch_halts_checked_as_solve_does(tmp_path, capsys):
    path = tmp_path / "maze.txt"
    path.write_text("\n".join(HALTS_TOO_EARLY) + "\n")
    lengths = {}
    for halt in ("adaptive", "checked"):
        assert main(["watch", "maze", str(path), "--halt", halt, "--export", "-",
                     "--device", "cpu"]) == 0
        [puzzle] = json.loads(capsys.readouterr().out)["puzzles"]
        lengths[halt] = len(puzzle["segments"])
    _, [checked] = solve_jsonl(capsys, "maze", path, "--attempts", "1", "--halt", "checked")
    assert lengths == {"adaptive": 2, "checked": checked["segments"]}


def test_the_header_says_the_budget_grows_with_the_maze(tmp_path, capsys):
    path = write_lines(tmp_path / "held-out.txt", HELD_OUT[:1])
    assert main(["solve", "maze", str(path), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "halt checked, up to 16 segments, more on grids larger than 24x24, up to 8 " \
           "attempts." in err
    assert main(["solve", "maze", str(path), "--device", "cpu", "--max-segments", "40"]) == 0
    assert "up to 40 segments, up to 8 attempts." in capsys.readouterr().err
