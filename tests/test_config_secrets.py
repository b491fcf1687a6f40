"""A password typed under a key the listener does not know is refused without being echoed.

The exact ``mqtt.password`` was hidden already; a misspelt one ('pasword') or one in another table fell to
the unknown-key error, which printed the value in full on the terminal and, through leds-off (which the
unit runs after every stop), into the journal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.cli import main

SECRET = "s3cret-typo"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (f'[mqtt]\npasword = "{SECRET}"\n', "mqtt.pasword"),
        (f'password = "{SECRET}"\n', "password"),
        (f'[service]\npassword = "{SECRET}"\n', "service.password"),
        (f'[mqtt]\nmqtt_password = "{SECRET}"\n', "mqtt.mqtt_password"),
        (f'[mqtt]\npasswd = "{SECRET}"\n', "mqtt.passwd"),
        (f'[mqtt]\nPassword = "{SECRET}"\n', "mqtt.Password"),
        (f'[mqtt]\npwd = "{SECRET}"\n', "mqtt.pwd"),
        (f'[mqtt]\napi_token = "{SECRET}"\n', "mqtt.api_token"),
        (f'[mqtt]\nprivate_key = "{SECRET}"\n', "mqtt.private_key"),
        # a table nobody knows, holding a password: the table is echoed whole, its password with it
        (f'[mqtt.login]\npassword = "{SECRET}"\n', "mqtt.login"),
    ],
)
def test_check_config_hides_the_value_of_an_unknown_secret_looking_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    config = tmp_path / "listener.toml"
    config.write_text(text)
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err, err
    assert err.count("\n") == 1 and f'at {named} = "<hidden>": unknown key' in err, err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[mqtt]\nhots = "broker.local"\n', 'mqtt.hots = "broker.local": unknown key; did you mean host?'),
        ("[array]\nbogus_key = 1\n", "array.bogus_key = 1: unknown key"),  # a number under '..key': no secret
    ],
)
def test_an_unknown_key_that_is_no_secret_is_still_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    config = tmp_path / "listener.toml"
    config.write_text(text)
    assert main(["check-config", str(config)]) == 2
    assert said in capsys.readouterr().err
