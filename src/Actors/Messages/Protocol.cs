using System.Collections.Immutable;
using Akka.Actor;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Messages;

/// <summary>Marks the messages that cross the network; <see cref="Serialization.PapaSerializer"/> writes them all.</summary>
public interface IPapaMessage;

/// <summary>The version of the messages' encoding, checked when a node asks for the run config and when a member registers.</summary>
public static class WireProtocol
{
    /// <summary>
    /// Bump it with any change of a message's encoding (a field added, removed, retyped or reordered, a manifest
    /// renamed or removed): nodes of two builds then refuse each other with a clear error instead of misreading bytes.
    /// </summary>
    public const int Version = 4;
}

/// <summary>An HMAC-SHA256 (hex) over a request and the <paramref name="Nonce"/> of a <see cref="SecretChallenge"/> (see Security.RunSecret).</summary>
public sealed record SecretProof(string Nonce, string Mac);

/// <summary>The averager's node asks for a proof of the run secret over the request it answers, with a fresh nonce.</summary>
public sealed record SecretChallenge(string Nonce) : IPapaMessage;

// ---- Registration: member -> averager, then the averager's answer.

/// <summary>
/// A member announces itself (once its model is built) with the fingerprint of its weight layout and the
/// <see cref="Population.NodeReducer"/> of its node, which combines its snapshots with its node's other members'.
/// In a cluster run with a secret, it registers again with a <paramref name="Proof"/> when challenged.
/// </summary>
public sealed record RegisterMember(int Index, IActorRef Member, string LayoutFingerprint, IActorRef Reducer, int ProtocolVersion = WireProtocol.Version,
    SecretProof? Proof = null) : IPapaMessage;

public sealed record MemberAccepted(int Index) : IPapaMessage;

/// <summary>Registration refused (index out of range or taken, layout unlike the others); the member stops.</summary>
public sealed record MemberRejected(int Index, string Reason) : IPapaMessage;

// ---- The round loop: averager -> members -> averager.

/// <summary>
/// Train the next <paramref name="Steps"/> steps; snapshot, held-out accuracy and REPAIR statistics (of this
/// round's calibration batches) only when asked. A snapshot goes to the member's node reducer, and the member
/// then handles nothing but its <see cref="Mix"/> (or a restore) until that mix arrives, because the mix comes
/// by way of the reducer while later messages (CaptureState, the next Train) come straight from the averager.
/// <paramref name="Attempt"/> changes with every rollback: reports and mixes of an abandoned attempt are told
/// apart from a replay of the same round.
/// <paramref name="AheadSteps"/>: steps of the next round to train right after sending the snapshot, before the
/// mix is applied (papa.push-delay-steps); that round's Train then asks for the rest.
/// <paramref name="FeatureImages"/>: send the penultimate features of this many held-out images with the report (0: none).
/// </summary>
public sealed record Train(int Round, int Steps, bool SendSnapshot, bool EvaluateHeldOut, bool MeasureRepairStatistics = false, long Attempt = 0,
    int AheadSteps = 0, int FeatureImages = 0) : IPapaMessage;

/// <summary>
/// <paramref name="Finite"/>: every weight and BatchNorm buffer is finite (a diverged member is never mixed in).
/// <paramref name="WaitSeconds"/>: how long the member sat idle before this round's training (waiting for the
/// slowest member and for its mix); <paramref name="MixSeconds"/>: how long it spent applying that mix.
/// <paramref name="Features"/>: its penultimate features, when the Train asked for them.
/// </summary>
public sealed record Trained(
    int Member,
    int Round,
    long Step,
    double Loss,
    double LearningRate,
    long Samples,
    double Seconds,
    double? HeldOutAccuracy,
    WeightSnapshot? Snapshot,
    ActivationStatistics? RepairStatistics = null,
    bool Finite = true,
    double WaitSeconds = 0,
    double MixSeconds = 0,
    long Attempt = 0,
    FeatureMatrix? Features = null) : IPapaMessage
{
    /// <summary>Never mixed in: its weights or its loss are not finite.</summary>
    public bool Diverged => !Finite || !double.IsFinite(Loss);
}

/// <summary>
/// w &lt;- keep * w + (1 - keep) * weights. PAPA sends the mean with keep = rho, PAPA-all the mean with
/// keep = 0, PAPA-2 each member's child with keep = 0 (and names its parents). With REPAIR on,
/// <paramref name="RepairTargets"/> are the parents' statistics combined with the same weights.
/// <paramref name="MeasureGain"/>: the member answers with its <see cref="MixEvaluated"/> (papa.metrics.mix-gain).
/// </summary>
public sealed record Mix(int Round, WeightSnapshot Weights, double Keep, ParentPair? Parents, ActivationStatistics? RepairTargets = null, long Attempt = 0,
    bool MeasureGain = false) : IPapaMessage;

/// <summary>
/// Member -> averager, right after it applied the mix of <paramref name="Round"/> that asked for it: its held-out accuracy
/// on its weights just before the mix and on the mixed ones (after REPAIR and BatchNorm handling). Sent before anything
/// else the member answers after that mix (a checkpoint's state), so a checkpoint never falls between a mix and its measurement.
/// </summary>
public sealed record MixEvaluated(int Member, int Round, long Attempt, double HeldOutBefore, double HeldOutAfter) : IPapaMessage;

// ---- Per node: the members of a node are combined on it before anything crosses the network.

/// <summary>
/// Averager -> node reducer, with the round's Train: wait for the Trained (with snapshots) of
/// <paramref name="Members"/> in this attempt and round, then answer one <see cref="NodeTrained"/> with the exact
/// sum of the finite members' weights when <paramref name="Sum"/> (PAPA, PAPA-all), and for PAPA-2 the members'
/// snapshots in <paramref name="UploadSnapshots"/> (parents of a child whose other parent is on another node),
/// the children of <paramref name="FormChildren"/> (both parents here) formed here, of which those in
/// <paramref name="UploadChildren"/> go up (a member on another node needs them).
/// </summary>
public sealed record CombineRound(
    long Attempt,
    int Round,
    ImmutableArray<int> Members,
    bool Sum,
    ImmutableArray<int> UploadSnapshots,
    ImmutableArray<ParentPair> FormChildren,
    ImmutableArray<ParentPair> UploadChildren) : IPapaMessage;

/// <summary>
/// A node's members' reports for the round (without snapshots) and what <see cref="CombineRound"/> asked for;
/// <paramref name="Sum"/> is null when every member of the node diverged.
/// </summary>
public sealed record NodeTrained(
    long Attempt,
    int Round,
    ImmutableArray<Trained> Reports,
    PartialSum? Sum,
    ImmutableDictionary<int, WeightSnapshot> Snapshots,
    ImmutableDictionary<ParentPair, WeightSnapshot> Children) : IPapaMessage;

/// <summary>
/// The round's mix for the members of one node, sent once for all of them: the population mean (PAPA, PAPA-all),
/// or for PAPA-2 the children the node did not form itself; the reducer hands each member its <see cref="Mix"/>.
/// <paramref name="MeasureGain"/>: every member measures this mix (see <see cref="MixEvaluated"/>).
/// </summary>
public sealed record NodeMix(
    long Attempt,
    int Round,
    WeightSnapshot? Mean,
    ImmutableArray<MemberMix> Members,
    ImmutableDictionary<ParentPair, WeightSnapshot> Children,
    bool MeasureGain = false) : IPapaMessage;

/// <summary>One member's part of a <see cref="NodeMix"/>: its weights are the mean, or the child of <paramref name="Parents"/>.</summary>
public sealed record MemberMix(int Member, double Keep, ParentPair? Parents, ActivationStatistics? RepairTargets);

// ---- Checkpoints and rollback: a member's whole state at a round boundary, out and back in.

/// <summary>Send the whole state (after every Mix sent before this message): for a checkpoint, or for a divergence reset.</summary>
public sealed record CaptureState(int Round) : IPapaMessage;

public sealed record StateCaptured(int Round, MemberState State) : IPapaMessage;

/// <summary>
/// Go back to <paramref name="State"/>; without one, to a fresh member's initial state (step 0). In the current
/// <paramref name="Attempt"/> it resets a diverged member within the round; in a new one it is a rollback, and
/// whatever the member held back for the abandoned attempt is dropped.
/// </summary>
public sealed record RestoreState(int Round, MemberState? State, long Attempt = 0) : IPapaMessage;

public sealed record StateRestored(int Member, int Round) : IPapaMessage;

// ---- The end: final snapshots and logits, then soup evaluations shared by the members.

public sealed record Finish(int Round) : IPapaMessage;

/// <param name="RepairStatistics">With repair-soup: the member's REPAIR statistics on the soups' calibration batches.</param>
public sealed record MemberFinal(
    int Member,
    WeightSnapshot Weights,
    double TestAccuracy,
    double HeldOutAccuracy,
    ImmutableArray<float> TestLogits,
    ActivationStatistics? RepairStatistics = null) : IPapaMessage;

/// <summary>
/// Evaluate other weights (a soup): REPAIRed towards <paramref name="RepairTargets"/> if given (on the soups' calibration
/// batches, BatchNorm re-estimated after), else with <paramref name="RecomputeBatchNorm"/> the BatchNorm statistics
/// re-estimated (<paramref name="ReturnWeights"/> sends the weights back as evaluated); then the held-out split when
/// asked, and the <paramref name="Test"/> slice of the test set, if any.
/// </summary>
public sealed record EvaluateWeights(int RequestId, WeightSnapshot Weights, bool RecomputeBatchNorm, bool OnHeldOut, TestSlice? Test, bool ReturnWeights,
    ActivationStatistics? RepairTargets = null) : IPapaMessage;

/// <summary>Part <paramref name="Part"/> of <paramref name="Parts"/> equal contiguous parts of the test set.</summary>
public sealed record TestSlice(int Part, int Parts);

/// <summary>Held-out accuracy if it was asked for; the test slice's correct predictions out of its images (0 of 0 without one).</summary>
public sealed record WeightsEvaluated(int RequestId, double? HeldOutAccuracy, long TestCorrect, long TestCount, WeightSnapshot? Weights) : IPapaMessage;

/// <summary>The run is over (completed or failed): members stop, and member nodes shut down when theirs have.</summary>
public sealed record RunEnded(bool Completed, string Summary) : IPapaMessage;

// ---- Cluster: a member node asks the Averager's node for the run configuration before it builds members.

/// <summary>A member node's first message; asked again with a <paramref name="Proof"/> when challenged.</summary>
public sealed record RequestRunConfig(string Node, int ProtocolVersion = WireProtocol.Version, SecretProof? Proof = null) : IPapaMessage;

/// <summary>The node may not take part in the run (another protocol version, no or a wrong run secret); it stops.</summary>
public sealed record RunConfigRefused(string Reason) : IPapaMessage;

/// <summary>The resolved `papa` section of the run (and the `akka` keys its user gave), as HOCON text (see PapaConfig.Render).</summary>
public sealed record RunConfigText(string Hocon) : IPapaMessage;

/// <summary>
/// A member node asks which member indices it may run: <paramref name="Wanted"/> (all of them, or none while
/// another node runs any of them), or with no list (`--members auto`) every index that has no member.
/// </summary>
public sealed record RequestMissingMembers(string Node, ImmutableArray<int>? Wanted) : IPapaMessage;

/// <summary>The indices offered to the asking node, held for it for a while; empty: none yet, ask again.</summary>
public sealed record MissingMembers(ImmutableArray<int> Indices) : IPapaMessage;

// ---- Failures.

/// <summary>
/// A member reports why it failed. <paramref name="Restarting"/>: its supervisor restarts it (it registers
/// again, fresh); otherwise it stops for good (its model could not even be built).
/// </summary>
public sealed record MemberFailed(int Member, string Reason, bool Restarting = false) : IPapaMessage;

// ---- The stream path (see Transfer.BulkTransport): weights on a TCP connection of their own, announced over Akka.

/// <summary>
/// Stands in a remote actor's mailbox for a message whose <paramref name="TotalBytes"/> of PapaSerializer bytes
/// travel on the stream connection: the receiver handles that message here, in the order its sender sent it.
/// </summary>
public sealed record StreamedMessage(long TransferId, long TotalBytes, string Manifest) : IPapaMessage;

/// <summary>The payload of streamed message <paramref name="TransferId"/> will not come (told by its sender or by the receiving node's reader).</summary>
public sealed record StreamTransferFailed(long TransferId, string Reason) : IPapaMessage;

/// <summary>Asks a node on which TCP port it accepts stream connections.</summary>
public sealed record StreamPortRequest : IPapaMessage;

/// <summary>A node's stream port, and the largest message it accepts (a sender never streams a larger one to it).</summary>
public sealed record StreamPort(int Port, long MaxMessageBytes) : IPapaMessage;
