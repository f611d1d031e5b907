@epic:node @attack
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
