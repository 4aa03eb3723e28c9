#!/usr/bin/env bash
# Prints the shell line that points kubectl at the local cluster.
. "$(dirname "$0")/lib.sh"
echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
