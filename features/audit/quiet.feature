@epic:audit
Feature: What the audit layer leaves alone
  An alert nobody acts on is noise. A benign workload raises none, and a
  lab's kernel audit rules do not outlive it.

  @any-substrate
  Scenario: a benign workload raises no alert
    Given a lab node with the "integrity" profile
    And the workload "app" is running
    Then the audit engine raised no alert while "app" ran for 4 s

  @any-substrate
  Scenario: a torn-down lab leaves no audit rule in the kernel
    Given a lab node with the "integrity" profile
    And the workload "legacy-app" is running
    When the lab is torn down
    Then the kernel holds no audit rule of that lab
