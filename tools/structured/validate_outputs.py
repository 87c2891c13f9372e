#!/usr/bin/python3
"""Validate constrained-decoding outputs against their JSON schemas.

Reads a JSON Lines file where each line is {"schema": ..., "output": "..."}
and checks that every output parses as JSON and validates against its schema
with the python3-jsonschema package (Draft 2020-12, formats checked). The
date-time format, which jsonschema checks only when the optional
rfc3339-validator package is present, is checked here with datetime.

Prints one line per failure and exits with status 1 when any output fails.
Usage: validate_outputs.py PAIRS.jsonl
"""

import datetime
import json
import sys

import jsonschema


def make_format_checker():
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value):
        if not isinstance(value, str):
            return True
        date_part, separator, time_part = value.partition("T")
        if not separator:
            raise ValueError("no 'T' between date and time")
        datetime.date.fromisoformat(date_part)
        datetime.time.fromisoformat(time_part.replace("Z", "+00:00"))
        return True

    return checker


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2

    checker = make_format_checker()
    n_checked = 0
    n_failed = 0
    with open(sys.argv[1], encoding="utf-8") as pairs:
        for line_number, line in enumerate(pairs, start=1):
            pair = json.loads(line)
            schema = pair["schema"]
            output = pair["output"]
            n_checked += 1
            try:
                document = json.loads(output)
                validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
                validator_class(schema, format_checker=checker).validate(document)
            except (ValueError, jsonschema.ValidationError) as error:
                n_failed += 1
                message = str(error).splitlines()[0]
                print(f"line {line_number}: invalid output {output!r} for schema {json.dumps(schema)}: {message}")

    print(f"{n_checked} outputs checked, {n_failed} invalid")
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
