@epic:audit
Feature: Audit rules a scenario declares
  Users add Falco-syntax rules per scenario (scenarios/audit-rules/), loaded
  after the built-in ones into the running engine. A file that does not load
  is refused with its file, rule and position, and the engine keeps the
  rules it had.

  @attack @any-substrate
  Scenario: a user rule catches a shell in the apps namespace
    # The vanilla control of shell-in-app is in runtime-attacks.feature.
    Given a lab node with the "integrity" profile
    And the audit rules "apps-shell" are loaded
    And the workload "app" is running
    When the attacker carries out "shell-in-app"
    Then the attack has the outcome expected on this profile
    And the audit rule "Shell in the apps namespace" raised an alert

  @any-substrate
  Scenario: a rules file with a syntax error is refused and the running rules stay in force
    Given a lab node with the "integrity" profile
    And the audit rules "apps-shell" are loaded
    And the workload "app" is running
    When the audit rules "invalid/syntax-error" are loaded into the running engine
    Then the audit engine refuses them, naming "scenarios/audit-rules/invalid/syntax-error.yaml", the rule "Broken rule" and the position "7:14"
    And the audit rules in force are the ones loaded before
    When the attacker carries out "shell-in-app"
    Then the attack has the outcome expected on this profile
    And the audit rule "Shell in the apps namespace" raised an alert

  Scenario: an admission denial is a k8s_audit event the rules see
    Given a lab node with the "integrity" profile
    And the audit rules "k8s-denied-pods" are loaded
    When the workload "privileged-tool" is submitted in the namespace "baseline-ns"
    Then the pod is refused with "privileged"
    And the audit rule "Pod creation denied by admission" raised an alert
