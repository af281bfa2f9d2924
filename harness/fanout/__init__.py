"""Distributed runs: one scenario fanned out to many worker Lambdas by Step Functions.

config.py      the scenario's [fanout] table: workers, segment, start lead, stack name
spec.py        the execution input (a scenario, or the AWS reference design's) -> RunSpec
shards.py      a RunSpec's segment -> one Shard per worker, all with one start instant
store.py       where a run's files live in the results bucket
worker.py      one shard: the same engine as `harness run`, results to S3
aggregate.py   the exact merge of every worker's results, as a tree
handlers.py    the Lambda handlers: a few lines each over the above
execution.py   the CLI's side: start, follow, stop and download an execution
cost.py        what a run costs on AWS, before it starts
deploy.py      the CloudFormation stack (infra/fanout.yaml)
package.py     the code zip for the Lambda Python runtime
"""
