using PapaActors.Models.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PapaActors.Models.Nets;

/// <summary>Two conv-BatchNorm-ReLU-pool stages and a two-layer classifier: the default Fashion-MNIST model.</summary>
public sealed class SmallCnn : Module<Tensor, Tensor>, IPenultimateFeatures
{
    private readonly Module<Tensor, Tensor> features;
    private readonly Module<Tensor, Tensor> classifier;

    public SmallCnn(ImageShape shape, int classes, double width) : base(nameof(SmallCnn))
    {
        var c1 = ModelZoo.Scaled(32, width);
        var c2 = ModelZoo.Scaled(64, width);
        var hidden = ModelZoo.Scaled(128, width);
        features = Sequential(
            Conv2d(shape.Channels, c1, 3, padding: 1), new BatchNorm2d(c1), ReLU(), MaxPool2d(2),
            Conv2d(c1, c2, 3, padding: 1), new BatchNorm2d(c2), ReLU(), MaxPool2d(2));
        var flat = c2 * (shape.Height / 4) * (shape.Width / 4);
        classifier = Sequential(Flatten(), Linear(flat, hidden), ReLU(), Linear(hidden, classes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => classifier.call(features.call(input));

    /// <summary>The classifier's hidden layer (its ReLU output); the classifier's layers are called one by one, as in <see cref="Mlp"/>.</summary>
    public Tensor Features(Tensor input) =>
        classifier.children().SkipLast(1).Cast<Module<Tensor, Tensor>>().Aggregate(features.call(input), (hidden, layer) => layer.call(hidden));
}
