@epic:watchdog @any-substrate
Feature: A stopped container's namespace gives back the disk space it held
  A mount namespace lives as long as anything refers to it: here a debug
  session left running inside the container's namespace. When the
  container stops, its mounts stay in that namespace, and a file deleted on
  the node but still bind-mounted there keeps its space: df counts it, du
  cannot find it (the phantom disk usage of the integrity talk). The
  watchdog enters a stopped container's namespace that is still held and
  detaches every mount left in it.

  Scenario Outline: stopping a container whose namespace is still held (<profile>)
    Given a lab node with the "<profile>" profile
    And the node directory "/srv/integrity-lab" is a 256 MiB tmpfs
    And the node file "/srv/integrity-lab/blob" holds 64 MiB
    And the node directory "/srv/integrity-lab/scratch" exists
    And the lab signs the image of "volume-agent" in the "v2" format
    And the workload "volume-agent" is running
    And a process on the node holds the mount namespace of "volume-agent"
    When the node deletes "/srv/integrity-lab/blob"
    Then the node's df in "/srv/integrity-lab" still counts the 64 MiB of the deleted file that du no longer finds
    When the container of "volume-agent" is stopped
    Then within 5 s the 64 MiB of the deleted file in "/srv/integrity-lab" are "<space>"

    Examples:
      | profile   | space      |
      | vanilla   | still held |
      | integrity | released   |
