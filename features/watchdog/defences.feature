@epic:watchdog
Feature: The controls defend themselves
  Root can switch the node gates off without touching a container: edit the
  gate configuration, add a CA to the trusted roots, take the runtime
  wrapper out of containerd's configuration. The watchdog pins what the
  gates are made of when it starts and reports every change, and it checks
  each container in a protected namespace from the node's mount table: one
  whose root is not the start gate's read-only root (a writable upperdir)
  never passed the gate. Every attack runs on the vanilla control too, where
  it must succeed.

  Scenario Outline: <attack> (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | attack                        | profile   |
      | start-gate-disabled-by-config | vanilla   |
      | start-gate-disabled-by-config | integrity |
