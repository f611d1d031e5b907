@epic:watchdog @any-substrate
Feature: What a workload does by design raises no watchdog alert
  Declared volumes (a read-only file and a scratch directory, both from a
  node tmpfs), exec sessions, writes into a tmpfs volume, and
  container restarts by the kubelet are all part of the spec or leave the
  mount namespace as the spec made it. The watchdog must stay silent; the vanilla
  control shows the same operations work without it.

  Scenario: declared volumes, exec, tmpfs writes and restarts work on the vanilla control
    Given a lab node with the "vanilla" profile
    And the node directory "/srv/integrity-lab" is a 64 MiB tmpfs
    And the node file "/srv/integrity-lab/blob" holds 1 MiB
    And the node directory "/srv/integrity-lab/scratch" exists
    And the lab signs the image of "volume-agent" in the "v2" format
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "volume-agent" is running
    And the workload "system-agent" is running
    When the workload "volume-agent" runs "wc -c /data/blob && ls -la /scratch" through exec
    And the workload "volume-agent" runs "dd if=/dev/zero of=/scratch/out bs=1M count=8 && echo note > /scratch/note && rm /scratch/out" through exec
    And the workload "system-agent" runs "cat /opt/agent/config /etc/resolv.conf /etc/hosts" through exec
    And the container of "system-agent" restarts
    And the container of "volume-agent" restarts
    Then the workload "system-agent" runs
    And the workload "volume-agent" runs

  Scenario: declared volumes, exec, tmpfs writes and restarts raise no watchdog alert (integrity)
    Given a lab node with the "integrity" profile
    And the node directory "/srv/integrity-lab" is a 64 MiB tmpfs
    And the node file "/srv/integrity-lab/blob" holds 1 MiB
    And the node directory "/srv/integrity-lab/scratch" exists
    And the lab signs the image of "volume-agent" in the "v2" format
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "volume-agent" is running
    And the workload "system-agent" is running
    When the workload "volume-agent" runs "wc -c /data/blob && ls -la /scratch" through exec
    And the workload "volume-agent" runs "dd if=/dev/zero of=/scratch/out bs=1M count=8 && echo note > /scratch/note && rm /scratch/out" through exec
    And the workload "system-agent" runs "cat /opt/agent/config /etc/resolv.conf /etc/hosts" through exec
    And the container of "system-agent" restarts
    And the container of "volume-agent" restarts
    Then the workload "system-agent" runs
    And the workload "volume-agent" runs
    And the watchdog raised no alert
