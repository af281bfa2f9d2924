"""harness: load and resilience testing for Cognito-protected Amazon API Gateway APIs."""

__version__ = "0.1.0"
