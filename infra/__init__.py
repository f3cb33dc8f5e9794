"""Deployment: the CloudFormation data stack and the embedded local stack."""
