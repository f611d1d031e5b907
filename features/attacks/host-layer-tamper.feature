@epic:node @attack @any-substrate
Feature: Host-side tampering with a layer file
  Root on the node can write to the layer files containerd keeps under
  /var/lib/containerd. The attack edits the file that backs /app/message in
  place; the container must not be able to read the attacker's bytes
  unnoticed.

  @smoke
  Scenario: on the vanilla control, a layer file edited on the host changes the running container
    Given a lab node with the "vanilla" profile
    And the workload "app" is running
    When the attacker carries out "host-layer-tamper"
    Then the attack has the outcome expected on this profile

  # The app workload runs in the unprotected apps namespace, where nothing
  # watches its layers yet (the app-tier check is issue 14). The same edit
  # against a protected system workload is caught by the watchdog's
  # re-verification of layers in use.
  Scenario: the same edit against a protected system workload is detected (integrity)
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "running-layer-tamper"
    Then the attack has the outcome expected on this profile
    And the "watchdog" reported it
