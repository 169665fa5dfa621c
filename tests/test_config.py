"""Config validation: unknown keys and out-of-range values are errors that name the key and file."""
import pytest

from asma.config.loading import apply_overrides, available_presets, load_config
from asma.errors import ConfigError, InputFileError


@pytest.mark.parametrize("preset", available_presets())
def test_presets_load(preset):
    cfg = load_config(preset)
    assert cfg.masking.views and cfg.train.epochs >= 1


def test_unknown_key_names_the_key():
    with pytest.raises(ConfigError) as e:
        load_config("smoke", ["encoder.widht=32"])
    assert e.value.key == "encoder.widht" and "unknown key" in str(e.value)


def test_out_of_range_value_names_the_key():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["masking.specs.a.joints.ratio=1.5"])
    assert e.value.key == "masking.specs.a.joints.ratio"
    with pytest.raises(ConfigError) as e:
        load_config(None, ["encoder.temporal_kernel=8"])  # must be odd
    assert e.value.key == "encoder.temporal_kernel"


def test_wrong_choice_names_the_key():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["masking.specs.b.frames.mode=fastest"])
    assert e.value.key == "masking.specs.b.frames.mode"


def test_undefined_view_is_an_error():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["masking.views=[a, c]"])
    assert e.value.key.startswith("masking") and "['c']" in str(e.value)


def test_frame_ratios_that_leave_no_frames_are_an_error():
    with pytest.raises(ConfigError, match="leaves almost no frames"):
        load_config(None, ["masking.specs.a.frames.ratio=0.5", "masking.specs.a.frames.random_ratio=0.5"])


def test_a_crop_that_uniform_sampling_would_ignore_is_an_error():
    # uniform sampling draws T frames over the whole sample: a crop set beside it would change nothing
    with pytest.raises(ConfigError, match="crop_min set, but sampling 'uniform' does not crop"):
        load_config("real", ["data.crop_min=1.0"])
    assert load_config("real", ["data.sampling=crop_resize", "data.crop_min=1.0"]).data.crop_min == 1.0
    assert load_config("real").data.sampling == "uniform"  # the preset itself sets no crop


def test_a_file_with_an_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("base: smoke\ntrain:\n  epochz: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in e.value.source and e.value.key == "train.epochz"


def test_missing_file_and_bad_override():
    with pytest.raises(InputFileError):
        load_config("/nonexistent/run.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.epochs"])


def test_overrides_are_validated_and_typed():
    cfg = apply_overrides(load_config("smoke"), {"masking.views": ["pstl"], "train.epochs": 2})
    assert cfg.masking.views == ["pstl"] and cfg.train.epochs == 2
    with pytest.raises(ConfigError):
        apply_overrides(cfg, {"train.batch_size": 1})


def test_every_invalid_key_is_listed_in_one_error(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("base: smoke\ntrain:\n  epochz: 3\n  batch_size: 1\nencoder:\n  widht: 32\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    listed = [key for key, _ in e.value.problems]
    assert sorted(listed) == ["encoder.widht", "train.batch_size", "train.epochz"]
    message = str(e.value)
    assert "3 problems" in message and "more)" not in message
    assert all(f"\n  {path}: {key}: " in message for key in listed)  # a line each, naming the file


def test_a_view_given_in_part_keeps_the_rest_of_it_and_the_other_views():
    """--set masking.specs.a.joints.ratio=0.3 changes view A's share only: its degree and motion rules
    stay, and view B stays defined (the whole mapping was replaced: B undefined, A's rules generic)."""
    cfg = load_config("laptop", ["masking.specs.a.joints.ratio=0.3"])
    default = load_config("laptop")
    a = cfg.masking.specs["a"]
    assert a.joints.ratio == 0.3 and (a.joints.mode, a.joints.target) == ("degree", "high")
    assert a.frames == default.masking.specs["a"].frames
    assert set(cfg.masking.specs) == set(default.masking.specs)
    assert cfg.masking.specs["b"] == default.masking.specs["b"]
    extra = load_config("laptop", ["masking.specs.mine.joints.mode=random", "masking.views=[a,mine]"])
    assert extra.masking.specs["mine"].joints.mode == "random" and "b" in extra.masking.specs
