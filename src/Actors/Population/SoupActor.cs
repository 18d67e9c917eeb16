using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Condenses the final population: the ensemble (mean of logits), the average soup (mean of all weights)
/// and the greedy soup (members by held-out accuracy, best first; a member joins only if the soup's
/// held-out accuracy strictly improves). Soups are evaluated by one member (the evaluator), one request at
/// a time, with the same BatchNorm treatment for every candidate.
/// </summary>
public sealed class SoupActor : BulkReceivingActor
{
    private readonly IReadOnlyList<MemberFinal> _finals;
    private readonly IActorRef _evaluator;
    private readonly bool _recomputeBatchNorm;
    private readonly double _ensembleAccuracy;
    private readonly List<int> _greedyOrder;
    private readonly List<int> _ingredients = [];
    private SoupResult? _averageSoup;
    private double _greedyHeldOut;
    private int _nextCandidate;
    private int _requestId;

    public SoupActor(IReadOnlyList<MemberFinal> finals, IActorRef evaluator, bool recomputeBatchNorm, int[] testLabels)
    {
        _finals = finals;
        _evaluator = evaluator;
        _recomputeBatchNorm = recomputeBatchNorm;
        _ensembleAccuracy = Evaluation.EnsembleAccuracy(finals.Select(f => f.TestLogits).ToList(), testLabels);
        _greedyOrder = finals.OrderByDescending(f => f.HeldOutAccuracy).ThenBy(f => f.Member).Select(f => f.Member).ToList();

        Receive<WeightsEvaluated>(e => e.RequestId == _requestId, OnEvaluated);
        Receive<TransferFailed>(f => throw new InvalidOperationException($"soup evaluation lost: {f.Reason}"));
    }

    public static Props Props(IReadOnlyList<MemberFinal> finals, IActorRef evaluator, bool recomputeBatchNorm, int[] testLabels) =>
        Akka.Actor.Props.Create(() => new SoupActor(finals, evaluator, recomputeBatchNorm, testLabels));

    /// <summary>The soups, sent to the parent (the Averager).</summary>
    public sealed record SoupsReady(double EnsembleTestAccuracy, SoupResult AverageSoup, SoupResult GreedySoup) : INoSerializationVerificationNeeded;

    private enum Stage { AverageSoup = 1, GreedyCandidate, GreedyFinal }

    private Stage _stage;

    protected override void PreStart() => Request(Stage.AverageSoup, AllMembers(), onTest: true);

    private IReadOnlyList<int> AllMembers() => _finals.Select(f => f.Member).ToList();

    private void OnEvaluated(WeightsEvaluated result)
    {
        switch (_stage)
        {
            case Stage.AverageSoup:
                _averageSoup = new SoupResult("average", result.TestAccuracy!.Value, result.HeldOutAccuracy, AllMembers(), result.Weights!);
                _ingredients.Add(_greedyOrder[0]);
                _nextCandidate = 1;
                Request(Stage.GreedyCandidate, _ingredients, onTest: false);
                break;
            case Stage.GreedyCandidate:
                if (_nextCandidate == 1 || result.HeldOutAccuracy > _greedyHeldOut)
                    _greedyHeldOut = result.HeldOutAccuracy;
                else
                    _ingredients.RemoveAt(_ingredients.Count - 1);
                if (_nextCandidate < _greedyOrder.Count)
                {
                    _ingredients.Add(_greedyOrder[_nextCandidate++]);
                    Request(Stage.GreedyCandidate, _ingredients, onTest: false);
                }
                else
                {
                    Request(Stage.GreedyFinal, _ingredients, onTest: true);
                }
                break;
            case Stage.GreedyFinal:
                var greedy = new SoupResult("greedy", result.TestAccuracy!.Value, result.HeldOutAccuracy, _ingredients.ToList(), result.Weights!);
                Context.Parent.Tell(new SoupsReady(_ensembleAccuracy, _averageSoup!, greedy));
                Context.Stop(Self);
                break;
        }
    }

    private void Request(Stage stage, IReadOnlyList<int> members, bool onTest)
    {
        _stage = stage;
        _requestId++;
        var weights = WeightMath.Average(members.Select(m => _finals[m].Weights).ToList());
        BulkTransport.For(Context.System).Send(_evaluator,
            new EvaluateWeights(_requestId, weights, _recomputeBatchNorm, onTest, ReturnWeights: onTest), Self);
    }
}
