using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Alignment;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Condenses the final population: the ensemble (mean of logits), the average soup (mean of all weights)
/// and the greedy soup (members by held-out accuracy, best first; a member joins only if the soup's
/// held-out accuracy strictly improves). Members may first be aligned to member 0 (align). With repair-soup, as
/// the reference: the average soup is REPAIRed, the greedy candidates are scored unrepaired, and only the chosen
/// greedy soup is REPAIRed (and its held-out accuracy measured again) before its test pass. Every candidate soup
/// is averaged in member order and prepared (REPAIR, BatchNorm, held-out accuracy) once, by one member; a soup's
/// test pass is split among all members. The average soup (member 0) and the greedy candidates (member 1) are
/// prepared side by side, and a soup already prepared or measured (the greedy soup is often the average soup)
/// is not evaluated again; a REPAIRed soup and the plain soup of the same members are different soups.
/// </summary>
public sealed class SoupActor : BulkReceivingActor
{
    private readonly IReadOnlyList<MemberFinal> _finals;
    private readonly IReadOnlyList<IActorRef> _evaluators;
    private readonly bool _recomputeBatchNorm;
    private readonly bool _repair;
    private readonly double _ensembleAccuracy;
    private readonly List<int> _greedyOrder;
    private readonly List<int> _ingredients = [];
    /// <summary>Open requests: the member asked, which alone may answer, and what its answer is for.</summary>
    private readonly Dictionary<int, (IActorRef Evaluator, Action<WeightsEvaluated> Then)> _awaiting = [];
    private readonly Dictionary<string, Prepared> _prepared = [];
    private readonly Dictionary<string, double> _testAccuracies = [];
    private readonly Dictionary<string, List<Action<double>>> _testWaiters = [];
    private SoupResult? _averageSoup;
    private SoupResult? _greedySoup;
    private Prepared? _greedyBest;
    private int _nextCandidate;
    private int _requestId;

    /// <param name="evaluators">The members, by index: they evaluate the soups.</param>
    /// <param name="repair">REPAIR the average soup and the chosen greedy soup, when of two or more members, towards their members'
    /// mean statistics (repair-soup).</param>
    /// <param name="alignModel">The zoo model whose members are aligned to member 0 by weight matching first (align), or null.</param>
    public SoupActor(IReadOnlyList<MemberFinal> finals, IReadOnlyList<IActorRef> evaluators, bool recomputeBatchNorm, bool repair, int[] testLabels,
        string? alignModel = null)
    {
        _finals = alignModel is null ? finals : Aligned(finals, alignModel);
        _evaluators = evaluators;
        _recomputeBatchNorm = recomputeBatchNorm;
        _repair = repair;
        _ensembleAccuracy = Evaluation.EnsembleAccuracy(finals.Select(f => f.TestLogits).ToList(), testLabels);
        _greedyOrder = finals.OrderByDescending(f => f.HeldOutAccuracy).ThenBy(f => f.Member).Select(f => f.Member).ToList();

        Receive<WeightsEvaluated>(e => _awaiting.TryGetValue(e.RequestId, out var open) && open.Evaluator.Equals(Sender), e =>
        {
            if (e.TestCount < 0 || e.TestCorrect < 0 || e.TestCorrect > e.TestCount || e.HeldOutAccuracy is < 0 or > 1)
                throw new InvalidOperationException($"member {Sender.Path} evaluated a soup to {e.TestCorrect} of {e.TestCount} test images and held-out accuracy {e.HeldOutAccuracy}");
            _awaiting.Remove(e.RequestId, out var open);
            open.Then(e);
        });
        Receive<TransferFailed>(f => throw new InvalidOperationException($"soup evaluation lost: {f.Reason}"));
    }

    public static Props Props(IReadOnlyList<MemberFinal> finals, IReadOnlyList<IActorRef> evaluators, bool recomputeBatchNorm, bool repair, int[] testLabels,
        string? alignModel = null) =>
        Akka.Actor.Props.Create(() => new SoupActor(finals, evaluators, recomputeBatchNorm, repair, testLabels, alignModel)).WithDispatcher(ComputeDispatcher.Id);

    /// <summary>
    /// Every member permuted to match member 0 by weight matching (seeded by the member's index, so it is deterministic),
    /// its REPAIR statistics with it. Logits and accuracies do not change: a permuted network computes the same function.
    /// </summary>
    private static List<MemberFinal> Aligned(IReadOnlyList<MemberFinal> finals, string model)
    {
        var spec = PermutationSpec.For(model, finals[0].Weights.Layout);
        return finals.Select(f =>
        {
            if (f.Member == finals[0].Member)
                return f;
            var permutations = WeightMatching.Match(spec, finals[0].Weights, f.Weights, seed: f.Member);
            return f with
            {
                Weights = WeightMatching.Apply(spec, f.Weights, permutations),
                RepairStatistics = f.RepairStatistics is { } statistics ? WeightMatching.Apply(spec, statistics, permutations) : null,
            };
        }).ToList();
    }

    /// <summary>The soups, sent to the parent (the Averager).</summary>
    public sealed record SoupsReady(double EnsembleTestAccuracy, SoupResult AverageSoup, SoupResult GreedySoup) : INoSerializationVerificationNeeded;

    /// <summary>A soup's weights as evaluated (BatchNorm re-estimated if configured) and its held-out accuracy.</summary>
    private sealed record Prepared(string Key, WeightSnapshot Weights, double HeldOutAccuracy);

    private IActorRef AverageEvaluator => _evaluators[0];
    private IActorRef GreedyEvaluator => _evaluators[1 % _evaluators.Count];

    protected override void PreStart()
    {
        var all = _finals.Select(f => f.Member).ToList();
        Prepare(all, _repair, AverageEvaluator, soup => MeasureTest(soup, accuracy =>
        {
            _averageSoup = new SoupResult("average", accuracy, soup.HeldOutAccuracy, all, soup.Weights);
            ReportWhenDone();
        }));
        _ingredients.Add(_greedyOrder[0]);
        _nextCandidate = 1;
        Prepare(_ingredients, repair: false, GreedyEvaluator, OnGreedyCandidate);
    }

    private void OnGreedyCandidate(Prepared candidate)
    {
        if (_greedyBest is null || candidate.HeldOutAccuracy > _greedyBest.HeldOutAccuracy)
            _greedyBest = candidate;
        else
            _ingredients.RemoveAt(_ingredients.Count - 1);
        if (_nextCandidate < _greedyOrder.Count)
        {
            _ingredients.Add(_greedyOrder[_nextCandidate++]);
            Prepare(_ingredients, repair: false, GreedyEvaluator, OnGreedyCandidate);
            return;
        }
        var members = _ingredients.ToList();
        Prepare(members, _repair, GreedyEvaluator, chosen => MeasureTest(chosen, accuracy =>
        {
            _greedySoup = new SoupResult("greedy", accuracy, chosen.HeldOutAccuracy, members, chosen.Weights);
            ReportWhenDone();
        }));
    }

    private void ReportWhenDone()
    {
        if (_averageSoup is null || _greedySoup is null)
            return;
        Context.Parent.Tell(new SoupsReady(_ensembleAccuracy, _averageSoup, _greedySoup));
        Context.Stop(Self);
    }

    /// <summary>
    /// The mean of <paramref name="members"/>' weights (in member order), REPAIRed if <paramref name="repair"/> asks it and
    /// it has several members, BatchNorm re-estimated as configured, with its held-out accuracy.
    /// </summary>
    private void Prepare(IReadOnlyList<int> members, bool repair, IActorRef evaluator, Action<Prepared> then)
    {
        var ordered = members.Order().ToList();
        // As the reference's repair_soup: only a soup of several members, towards their equally weighted statistics.
        var repaired = repair && ordered.Count > 1;
        var key = string.Join(",", ordered) + (repaired ? " repaired" : "");
        if (_prepared.TryGetValue(key, out var known))
        {
            then(known);
            return;
        }
        var weights = WeightMath.Average(ordered.Select(m => _finals[m].Weights).ToList());
        var targets = repaired
            ? ActivationStatistics.WeightedSum(ordered.Select(m => _finals[m].RepairStatistics!).ToList(), ordered.Select(_ => 1.0 / ordered.Count).ToList())
            : null;
        Ask(evaluator, id => new EvaluateWeights(id, weights, _recomputeBatchNorm, OnHeldOut: true, Test: null, ReturnWeights: true, targets), result =>
        {
            var prepared = _prepared[key] = new Prepared(key, result.Weights!, result.HeldOutAccuracy!.Value);
            then(prepared);
        });
    }

    /// <summary>Test accuracy of a prepared soup: every member evaluates its part of the test set, and the counts add up exactly.</summary>
    private void MeasureTest(Prepared soup, Action<double> then)
    {
        if (_testAccuracies.TryGetValue(soup.Key, out var known))
        {
            then(known);
            return;
        }
        if (_testWaiters.TryGetValue(soup.Key, out var waiting))
        {
            waiting.Add(then);
            return;
        }
        _testWaiters[soup.Key] = [then];
        long correct = 0, count = 0;
        var answers = 0;
        for (var part = 0; part < _evaluators.Count; part++)
        {
            var slice = new TestSlice(part, _evaluators.Count);
            Ask(_evaluators[part], id => new EvaluateWeights(id, soup.Weights, RecomputeBatchNorm: false, OnHeldOut: false, slice, ReturnWeights: false), result =>
            {
                correct += result.TestCorrect;
                count += result.TestCount;
                if (++answers < _evaluators.Count)
                    return;
                var accuracy = count > 0 ? (double)correct / count : double.NaN;
                _testAccuracies[soup.Key] = accuracy;
                _testWaiters.Remove(soup.Key, out var waiters);
                waiters!.ForEach(w => w(accuracy));
            });
        }
    }

    private void Ask(IActorRef evaluator, Func<int, EvaluateWeights> request, Action<WeightsEvaluated> then)
    {
        var id = ++_requestId;
        _awaiting[id] = (evaluator, then);
        BulkTransport.For(Context.System).Send(evaluator, request(id), Self);
    }
}
