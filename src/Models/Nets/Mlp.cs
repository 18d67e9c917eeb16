using PapaActors.Models.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PapaActors.Models.Nets;

/// <summary>Two hidden ReLU layers; the smallest model, for quick experiments and tests.</summary>
public sealed class Mlp : Module<Tensor, Tensor>, IPenultimateFeatures
{
    private readonly Module<Tensor, Tensor> layers;

    public Mlp(ImageShape shape, int classes, double width) : base(nameof(Mlp))
    {
        var hidden1 = ModelZoo.Scaled(512, width);
        var hidden2 = ModelZoo.Scaled(256, width);
        layers = Sequential(
            Flatten(),
            Linear(shape.Pixels, hidden1), ReLU(),
            Linear(hidden1, hidden2), ReLU(),
            Linear(hidden2, classes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => layers.call(input);

    /// <summary>Every layer but the last, called one by one (splitting the Sequential would rename its weights).</summary>
    public Tensor Features(Tensor input) =>
        layers.children().SkipLast(1).Cast<Module<Tensor, Tensor>>().Aggregate(input, (hidden, layer) => layer.call(hidden));
}
