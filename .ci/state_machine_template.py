"""Wraps a Step Functions definition file in a one-resource CloudFormation template, so
that cfn-lint checks the definition itself (states, fields, paths: rule E3601), which it
does not read through a SAM DefinitionUri. Usage: state_machine_template.py DEF.asl.json"""
import json
import re
import sys

path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    text = f.read()
definition = json.loads(text)
substitutions = {
    name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    for name in sorted(set(re.findall(r"\$\{(\w+)\}", text)))
}
json.dump(
    {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"cfn-lint wrapper for {path}",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/lint",
                    "Definition": definition,
                    "DefinitionSubstitutions": substitutions,
                },
            }
        },
    },
    sys.stdout,
    indent=1,
)
