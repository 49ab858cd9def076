"""Tests of bootstrap.py's pure parts.

Run: .venv/bin/python -B -m unittest discover -s infra/local -p 'test_*.py'
"""

import subprocess
import unittest

import bootstrap


class EnvFileTests(unittest.TestCase):
    def test_values_with_spaces_and_shell_characters_are_sourced_as_written(self):
        env = {
            "WEBAUTHN_RP_NAME": "My App",
            "CORS_ALLOWED_ORIGINS": "http://localhost:3000,http://127.0.0.1:3000",
            "APP_NAME": "It's $HOME `x` \"q\"",
            "EMPTY": "",
        }
        script = (
            "set -a; . /dev/stdin; set +a; "
            'printf "%s\\n" "$WEBAUTHN_RP_NAME" "$CORS_ALLOWED_ORIGINS" "$APP_NAME" "[$EMPTY]"'
        )
        out = subprocess.run(
            ["bash", "-c", script],
            input=bootstrap.env_file_text(env),
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertEqual(
            out.stdout.splitlines(),
            [env["WEBAUTHN_RP_NAME"], env["CORS_ALLOWED_ORIGINS"], env["APP_NAME"], "[]"],
        )


if __name__ == "__main__":
    unittest.main()
