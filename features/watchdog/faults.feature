@epic:watchdog
Feature: The watchdog survives its own restarts and containers that vanish
  The watchdog keeps no state it cannot rebuild from the node: a restarted
  watchdog reads every watched namespace again and reports what is still
  wrong. Containers exit at any moment, also between two reads of the same
  scan; that is an ordinary outcome, not an error. These scenarios test
  the watchdog itself, so they run on the integrity profile only.

  @any-substrate
  Scenario: an overmount still in place after a watchdog restart is reported by the new instance
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "overmount-binary"
    Then the attack has the outcome expected on this profile
    When the watchdog on the node restarts
    Then the restarted watchdog reports the overmount of "/opt/agent/run.sh" in "system-agent" again

  # On kind the containers are started over CRI, with the node's kubelet
  # stopped (docs/kind.md): through the apiserver the kubelet would restart
  # each exited container, and it kills pods over CRI that it did not start.
  @any-substrate
  Scenario: containers that exit while the watchdog scans cause no error
    Given a lab node with the "integrity" profile
    And the lab signs the image of "short-lived" in the "v2" format
    When 8 containers of "short-lived" start and exit while the watchdog scans
    Then the watchdog logged no error and still runs
    And the watchdog raised no alert
